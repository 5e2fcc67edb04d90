#!/usr/bin/env bash
# Sourced by the launchers in scripts/<dataset>/. Every launcher takes these variables, with one meaning:
#   NNODES (1), NODE_RANK (0), MASTER_ADDR (127.0.0.1), MASTER_PORT   the nodes, and node 0's rendezvous address
#   GPUS         processes per node, one per GPU
#   BATCH        clips per GPU; UPDATE_FREQ (1) gradient accumulation steps; the lr scales with the total batch
#   WORKERS      loader processes per GPU (default: the node's cores / GPUS, at most upstream's count)
#   SIZE         base (the paper's model), small or tiny;  EPOCHS;  DEVICE cuda (cpu: a smoke test)
#   DATA_ROOT    the dataset as downloaded (annotation paths are relative to it);  OUTPUT  checkpoints and logs
# It checks the inputs before launching, then starts torchrun, whose own traceback after a failed rank is held
# back so that the rank's one-line error is the last thing printed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
UPDATE_FREQ=${UPDATE_FREQ:-1}
SIZE=${SIZE:-base}
DEVICE=${DEVICE:-cuda}

fail() { echo "error: $*" >&2; exit 1; }
need_folder() { [ -d "$2" ] || fail "$1 $2 is not a folder: $3"; }
need_file() { [ -f "$2" ] || fail "$1 $2 is not a file: $3"; }
need_data_root() { [ -n "${DATA_ROOT:-}" ] || fail "set DATA_ROOT to the $1 root: $2"; need_folder DATA_ROOT "$DATA_ROOT" "$2"; }

check_total_batch() {  # the paper's total batch: prints this run's, and a note when the two differ
  local name
  for name in NNODES GPUS BATCH UPDATE_FREQ; do
    [[ "${!name}" =~ ^[1-9][0-9]*$ ]] || fail "$name=${!name}: expected a whole number of at least 1"
  done
  local total=$((NNODES * GPUS * BATCH * UPDATE_FREQ))
  echo "total batch NNODES x GPUS x BATCH x UPDATE_FREQ = $NNODES x $GPUS x $BATCH x $UPDATE_FREQ = $total"
  [ "$total" = "$1" ] || echo "note: the paper's total batch is $1; the lr scales with the total batch, so results may differ"
}

default_workers() {  # upstream's loader processes per GPU, at most the node's cores / GPUS
  local share=$(( $(nproc) / GPUS ))
  echo $(( share < 1 ? 1 : (share > $1 ? $1 : share) ))
}

torchrun_quietly() {  # arguments: those of torch.distributed.run
  local status=0
  # torchrun reports a failed rank as "failed (exitcode: N)", then its own ChildFailedError traceback: drop both.
  "$PYTHON" -m torch.distributed.run "$@" 2> >(awk '/failed \(exitcode:|ChildFailedError/ {quiet = 1} !quiet {print; fflush()}' >&2) || status=$?
  wait  # for the filter to print all it has
  return "$status"
}

launch() {  # an entry point and its arguments, on NNODES nodes of GPUS processes
  torchrun_quietly --nnodes="$NNODES" --node_rank="$NODE_RANK" --nproc_per_node="$GPUS" \
    --master_addr="$MASTER_ADDR" --master_port="$MASTER_PORT" "$@"
}
