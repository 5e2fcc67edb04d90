#!/usr/bin/env bash
# pretrain_lgi_former_base.sh's run, reading shards written by pack_shards.sh: a local or shared folder, or an
# object-store URL (s3://bucket/voxceleb2/shards, read through LitData). A mid-epoch checkpoint every SAVE_STEPS
# steps; rerun the same command after a crash and it resumes inside the epoch. On several nodes, start it on each
# with NNODES, NODE_RANK and MASTER_ADDR set (docs/training.md).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
GPUS=${GPUS:-5}
NNODES=${NNODES:-1}
BATCH=${BATCH:-32}
UPDATE_FREQ=${UPDATE_FREQ:-1}
SAVE_STEPS=${SAVE_STEPS:-1000}
DATA_ROOT=${DATA_ROOT:-saved/data/voxceleb2/shards}  # the packed shards: a folder, or a URL such as s3://...
OUTPUT=${OUTPUT:-saved/model/pretraining/voxceleb2/lgi_former_base}
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
source scripts/launch.sh
if [[ "$DATA_ROOT" != *://* ]]; then
  need_folder DATA_ROOT "$DATA_ROOT" "set DATA_ROOT to the packed shards (scripts/voxceleb2/pack_shards.sh writes them)"
  need_file "shard index" "$DATA_ROOT/index.json" "prepare the shards first with scripts/voxceleb2/pack_shards.sh"
fi
torchrun_quietly --nnodes="$NNODES" --node_rank="${NODE_RANK:-0}" --nproc_per_node="$GPUS" \
  --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${MASTER_PORT:-29510}" run_pretraining.py \
  --model pretrain_lgi_former_base_patch16_160 \
  --data_path "$DATA_ROOT" --voxceleb2_crop \
  --mask_type part_window --mask_ratio 0.9 --part_win_size 2 5 10 \
  --use_frame_diff_as_target true --normlize_target true \
  --batch_size "$BATCH" --update_freq "$UPDATE_FREQ" --num_frames 16 --sampling_rate 4 --input_size 160 \
  --epochs 100 --warmup_epochs 5 --lr 3e-4 --min_lr 1e-5 --weight_decay 0.05 --opt_betas 0.9 0.95 \
  --save_ckpt_freq 10 --save_every_steps "$SAVE_STEPS" --num_workers 20 \
  --output_dir "$OUTPUT" --log_dir "$OUTPUT/tb" "$@"
