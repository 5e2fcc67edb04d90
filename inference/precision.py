"""Which numeric path runs the classifier, and what `auto` picks on the machine it runs on.

    choice = choose_precision("auto", torch.device("cpu"))
    choice.precision, choice.reason  # "bf16", "this CPU has bf16 instructions (amx_bf16, avx512_bf16)"

Paths: "fp32" (PyTorch float32), "bf16" and "fp16" (PyTorch autocast: matrix products in 16 bits, norms, softmax
and the residual stream in float32), "int8" (ONNX Runtime, linear layers' weights and activations in 8 bits).

On a CPU, bf16 is fast only with bf16 instructions (AVX512_BF16, AMX-BF16: Xeons since Cooper Lake / Sapphire
Rapids, EPYCs since Zen 4); elsewhere PyTorch emulates it about 100x slower than float32, so it is refused.
`auto` takes a path only where it kept the base model's decisions: at least 99% of top classes and every
probability within 0.02 of float32 on the fine-tuned base model (`bench.bench_precision`, docs/deployment.md);
ACCURATE records that measurement. The CPU's features come from CPUID as PyTorch's cpuinfo reads it (what this
process can execute, also under an emulator), else from /proc/cpuinfo.
"""

from dataclasses import dataclass

import torch

from system.cpu import bf16_features, cpu_features, int8_features, no_bf16_reason

PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8")
FAST_MIN_WIDTH = 256  # narrower models stay in float32: bf16 ran the tiny LGI-Former (width 128) at 0.87x float32's
# speed (the small, 256, at 2.15x, the base, 512, at 2.7x; AMX Xeon, 2026-12-06), and int8 changed 1.5% of its
# top classes (probabilities up to 0.059 apart)
# Whether a path keeps a fine-tuned model's decisions: >= 99% top-1 agreement and probabilities within 0.02 of
# float32 (bench.bench_precision, docs/deployment.md, 2026-12-06). On the quick start's fine-tuned tiny model bf16
# kept every decision (probabilities within 0.0054), fp16 (GPUs; through CPU autocast) within 0.0009, int8 changed
# 0.7% of them and moved probabilities by 0.043. A base model that learned is still to be measured.
ACCURATE = {"bf16": True, "fp16": True, "int8": False}
AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}


class PrecisionError(ValueError):
    """A precision this machine cannot run (fast or at all): one line for the user."""


@dataclass(frozen=True)
class PrecisionChoice:
    precision: str  # fp32, bf16, fp16 or int8
    reason: str  # why, in a few words

    @property
    def autocast_dtype(self):
        """The dtype of torch.autocast for this path, None for float32 (and int8, which ONNX Runtime runs)."""
        return AUTOCAST.get(self.precision)

    def __str__(self):
        return f"precision {self.precision}: {self.reason}"


def choose_precision(requested, device, features=None, width=None):
    """The path for `requested` (one of PRECISIONS) on `device`; raises PrecisionError where it cannot run.
    `features`: the CPU's (default: this one's); `width`: the model's embedding width, if known."""
    if requested not in PRECISIONS:
        raise PrecisionError(f"unknown precision {requested!r}; known: {', '.join(PRECISIONS)}")
    device = torch.device(device)
    if device.type == "cuda":
        return _on_gpu(requested, device)
    if device.type != "cpu":
        if requested not in ("auto", "fp32"):
            raise PrecisionError(f"--precision {requested} runs on a CPU or a CUDA GPU, not on {device.type}")
        return PrecisionChoice("fp32", f"float32 on {device.type}")
    features = cpu_features() if features is None else set(features)
    bf16 = bf16_features(features)
    if requested == "fp16":
        raise PrecisionError("--precision fp16 is for GPUs; on a CPU use auto, bf16 or int8")
    if requested == "bf16" and not bf16:
        raise PrecisionError(
            f"--precision bf16: {no_bf16_reason(features)}, where bf16 runs about 100x slower than float32; "
            "use --precision auto"
        )
    if requested != "auto":
        return PrecisionChoice(requested, "asked for")
    if width is not None and width < FAST_MIN_WIDTH:
        return PrecisionChoice("fp32", f"auto: at width {width} the model is too small for bf16 or int8 to pay")
    if bf16 and ACCURATE["bf16"]:
        return PrecisionChoice("bf16", f"auto: this CPU has bf16 instructions ({', '.join(bf16)})")
    int8 = int8_features(features)
    if int8 and ACCURATE["int8"]:
        return PrecisionChoice("int8", f"auto: this CPU multiplies int8 fast ({', '.join(int8)})")
    why_not = [
        "bf16 missed the accuracy goal" if bf16 else no_bf16_reason(features),
        "int8 missed the accuracy goal" if int8 else "no VNNI for int8 to pay",
    ]
    return PrecisionChoice("fp32", f"auto: {', '.join(why_not)}")


def _on_gpu(requested, device):
    if requested == "int8":
        raise PrecisionError("--precision int8 runs on the CPU (ONNX Runtime); on a GPU use auto, bf16 or fp16")
    bf16 = torch.cuda.is_bf16_supported()
    if requested == "bf16" and not bf16:
        raise PrecisionError(f"--precision bf16: {torch.cuda.get_device_name(device)} has no bf16; use fp16")
    if requested != "auto":
        return PrecisionChoice(requested, "asked for")
    name = torch.cuda.get_device_name(device)
    return PrecisionChoice("bf16", f"auto: {name} has bf16") if bf16 else PrecisionChoice("fp16", f"auto: {name}")
