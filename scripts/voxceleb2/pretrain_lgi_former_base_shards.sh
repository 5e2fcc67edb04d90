#!/usr/bin/env bash
# pretrain_lgi_former_base.sh's run (scripts/pretrain_voxceleb2.sh), reading the shards pack_shards.sh writes:
# SHARDS is a local or shared folder, or an object-store URL (s3://bucket/voxceleb2/shards, read through LitData);
# DATA_ROOT is not needed. A mid-epoch checkpoint every SAVE_STEPS steps: rerun the same command after a crash and
# it resumes inside the epoch. On several nodes, start it on each with NNODES, NODE_RANK and MASTER_ADDR set.
source "$(dirname "${BASH_SOURCE[0]}")/../launch.sh"
SHARDS=${SHARDS:-saved/data/voxceleb2/shards}
SAVE_STEPS=${SAVE_STEPS:-1000}
if [[ "$SHARDS" != *://* ]]; then
  need_folder SHARDS "$SHARDS" "set SHARDS to the packed shards (scripts/voxceleb2/pack_shards.sh writes them)"
  need_file "shard index" "$SHARDS/index.json" "prepare the shards first with scripts/voxceleb2/pack_shards.sh"
fi
CLIPS=(--data_path "$SHARDS")
source scripts/pretrain_voxceleb2.sh
