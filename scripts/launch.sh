#!/usr/bin/env bash
# Sourced by the per-dataset scripts: check the inputs before launching, then torchrun, whose own traceback
# after a failed rank is held back so that the rank's one-line error is the last thing printed.
fail() { echo "error: $*" >&2; exit 1; }
need_folder() { [ -d "$2" ] || fail "$1 $2 is not a folder: $3"; }
need_file() { [ -f "$2" ] || fail "$1 $2 is not a file: $3"; }

torchrun_quietly() {  # arguments: those of torch.distributed.run
  local status=0
  # torchrun reports a failed rank as "failed (exitcode: N)", then its own ChildFailedError traceback: drop both.
  "$PYTHON" -m torch.distributed.run "$@" 2> >(awk '/failed \(exitcode:|ChildFailedError/ {quiet = 1} !quiet {print; fflush()}' >&2) || status=$?
  wait  # for the filter to print all it has
  return "$status"
}
