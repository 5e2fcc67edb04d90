#!/usr/bin/env bash
# MAE-DFER pretraining on VoxCeleb2 dev, paper setting: LGI-Former base (16 blocks, regions 2x5x10),
# 90% part-window tube mask, appearance + motion targets, AdamW (0.9, 0.95), lr 3e-4 base, 5 warmup epochs,
# 100 epochs (the released weights are checkpoint-49). The released run used a total batch of 160
# (its lr peaked at 1.875e-4 = 3e-4 * 160 / 256): set GPUS x BATCH x UPDATE_FREQ = 160 to match it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
GPUS=${GPUS:-5}
BATCH=${BATCH:-32}
UPDATE_FREQ=${UPDATE_FREQ:-1}
DATA=${DATA:-saved/data/voxceleb2/info_clean.csv}   # written by: python -m preprocess.voxceleb2 --root <VoxCeleb2> --out saved/data/voxceleb2
DATA_ROOT=${DATA_ROOT:?set DATA_ROOT to the VoxCeleb2 root: the csv paths are relative to it}
OUTPUT=${OUTPUT:-saved/model/pretraining/voxceleb2/lgi_former_base}
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
source scripts/launch.sh
need_folder DATA_ROOT "$DATA_ROOT" "set DATA_ROOT to the VoxCeleb2 root (the csv paths are relative to it)"
need_file "annotation file" "$DATA" "prepare VoxCeleb2 first (docs/datasets.md) or set DATA"
torchrun_quietly --nproc_per_node="$GPUS" --master_port="${MASTER_PORT:-29510}" run_pretraining.py \
  --model pretrain_lgi_former_base_patch16_160 \
  --data_path "$DATA" --data_root "$DATA_ROOT" --voxceleb2_crop \
  --mask_type part_window --mask_ratio 0.9 --part_win_size 2 5 10 \
  --use_frame_diff_as_target true --normlize_target true \
  --batch_size "$BATCH" --update_freq "$UPDATE_FREQ" --num_frames 16 --sampling_rate 4 --input_size 160 \
  --epochs 100 --warmup_epochs 5 --lr 3e-4 --min_lr 1e-5 --weight_decay 0.05 --opt_betas 0.9 0.95 \
  --save_ckpt_freq 10 --num_workers 20 \
  --output_dir "$OUTPUT" --log_dir "$OUTPUT/tb" "$@"
