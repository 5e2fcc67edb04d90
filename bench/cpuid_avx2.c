// LD_PRELOAD library: this process and the programs it starts see a CPU without AVX-512, AVX-VNNI, AMX or the
// other instruction sets an AVX2-only x86 CPU (Intel Haswell to Comet Lake, AMD Zen 1-3) lacks, so that every
// library that picks its kernels from CPUID (ONNX Runtime's MLAS, oneDNN, MKL, PyTorch, NumPy, OpenCV) picks the
// AVX2 ones and runs them at this machine's speed. Linux's CPUID faulting (the `cpuid_fault` flag in
// /proc/cpuinfo) turns each CPUID instruction into a SIGSEGV; the handler executes the real CPUID, clears the
// bits below and steps over the instruction. Libraries ask CPUID when they load, not per product, so the cost is
// nothing once loaded. A SIGSEGV handler the program installs (sigaction or signal: Python's faulthandler under
// pytest, GCC) is kept behind this one and called for every other fault. bench/avx2.sh builds and uses it.
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <dlfcn.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#define BIT(n) (1u << (n))

// CPUID leaf 7, sub-leaf 0: AVX512F, DQ, IFMA, PF, ER, CD, BW, VL (EBX); AVX512_VBMI, VBMI2, GFNI, VAES,
// VPCLMULQDQ, AVX512_VNNI, BITALG, VPOPCNTDQ (ECX); AVX512_4VNNIW, 4FMAPS, VP2INTERSECT, AMX_BF16, AVX512_FP16,
// AMX_TILE, AMX_INT8 (EDX). Sub-leaf 1: AVX_VNNI, AVX512_BF16, AMX_FP16, AVX_IFMA (EAX); AVX_VNNI_INT8,
// AVX_NE_CONVERT, AVX_VNNI_INT16, AVX10 (EDX).
static const uint32_t LEAF7_0[4] = {
    0, BIT(16) | BIT(17) | BIT(21) | BIT(26) | BIT(27) | BIT(28) | BIT(30) | BIT(31),
    BIT(1) | BIT(6) | BIT(8) | BIT(9) | BIT(10) | BIT(11) | BIT(12) | BIT(14),
    BIT(2) | BIT(3) | BIT(8) | BIT(22) | BIT(23) | BIT(24) | BIT(25)};
static const uint32_t LEAF7_1[4] = {BIT(4) | BIT(5) | BIT(21) | BIT(23), 0, 0, BIT(4) | BIT(5) | BIT(10) | BIT(19)};

static struct sigaction program_handler;  // the program's own SIGSEGV handler, SIG_DFL until it sets one

static int real_sigaction(int sig, const struct sigaction *action, struct sigaction *old) {
  static int (*real)(int, const struct sigaction *, struct sigaction *);
  if (!real) real = dlsym(RTLD_NEXT, "sigaction");
  return real(sig, action, old);
}

// The program's sigaction: SIGSEGV handlers go behind on_fault.
int sigaction(int sig, const struct sigaction *action, struct sigaction *old) {
  if (sig != SIGSEGV) return real_sigaction(sig, action, old);
  if (old) *old = program_handler;
  if (action) program_handler = *action;
  return 0;
}

// The program's signal (GCC's cc1plus sets its handler so, and asks CPUID for -march=native).
sighandler_t signal(int sig, sighandler_t handler) {
  static sighandler_t (*real)(int, sighandler_t);
  if (!real) real = dlsym(RTLD_NEXT, "signal");
  if (sig != SIGSEGV) return real(sig, handler);
  sighandler_t old = program_handler.sa_handler;
  program_handler = (struct sigaction){.sa_handler = handler};
  return old;
}

static void on_fault(int sig, siginfo_t *info, void *context) {
  greg_t *regs = ((ucontext_t *)context)->uc_mcontext.gregs;
  const unsigned char *ip = (const unsigned char *)regs[REG_RIP];
  if (info->si_code <= 0 || ip[0] != 0x0f || ip[1] != 0xa2) {  // not CPUID: the program's fault
    if (program_handler.sa_handler == SIG_DFL || program_handler.sa_handler == SIG_IGN) {
      real_sigaction(SIGSEGV, &program_handler, NULL);  // the default action, when the fault comes again
    } else if (program_handler.sa_flags & SA_SIGINFO) {
      program_handler.sa_sigaction(sig, info, context);
    } else {
      program_handler.sa_handler(sig);
    }
    return;
  }
  uint32_t leaf = regs[REG_RAX], sub = regs[REG_RCX], r[4];
  syscall(SYS_arch_prctl, ARCH_SET_CPUID, 1);
  __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
  syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0);
  const uint32_t *clear = leaf == 7 && sub == 0 ? LEAF7_0 : leaf == 7 && sub == 1 ? LEAF7_1 : NULL;
  for (int i = 0; clear && i < 4; i++) r[i] &= ~clear[i];
  regs[REG_RAX] = r[0], regs[REG_RBX] = r[1], regs[REG_RCX] = r[2], regs[REG_RDX] = r[3];
  regs[REG_RIP] += 2;
}

__attribute__((constructor)) static void hide_instruction_sets(void) {
  struct sigaction action = {.sa_sigaction = on_fault, .sa_flags = SA_SIGINFO};
  sigemptyset(&action.sa_mask);
  if (real_sigaction(SIGSEGV, &action, NULL) || syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0)) {
    fprintf(stderr, "cpuid_avx2: this kernel or CPU has no CPUID faulting (cpuid_fault in /proc/cpuinfo)\n");
    exit(1);
  }
}
