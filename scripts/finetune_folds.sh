#!/usr/bin/env bash
# Shared fold loop for the per-dataset fine-tune scripts: they set the variables below and source this.
# Runs run_finetuning.py once per fold under torchrun, then prints the per-fold table with mean and std.
#   DATASET, SPLITS (array of fold folders under DATA_DIR), DATA_DIR, DATA_ROOT, PRETRAINED, OUTPUT,
#   GPUS, BATCH (per GPU), SAMPLING_RATE, EXTRA (array of extra flags)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
source scripts/launch.sh
need_folder DATA_ROOT "$DATA_ROOT" "set DATA_ROOT to the $DATASET root (the csv paths are relative to it)"
for split in "${SPLITS[@]}"; do
  for part in train val test; do
    need_file "annotation file" "$DATA_DIR/$split/$part.csv" "prepare $DATASET first (docs/datasets.md) or set DATA_DIR"
  done
done
[ -z "${PRETRAINED:-}" ] || need_file PRETRAINED "$PRETRAINED" "set PRETRAINED to a pretraining checkpoint, or PRETRAINED= for none"
outputs=()
for split in "${SPLITS[@]}"; do
  out="$OUTPUT/$split"
  outputs+=("$out")
  torchrun_quietly --nproc_per_node="$GPUS" --master_port="${MASTER_PORT:-29511}" run_finetuning.py \
    --model lgi_former_base_patch16_160 \
    --data_set "$DATASET" \
    --data_path "$DATA_DIR/$split" \
    --data_root "$DATA_ROOT" \
    ${PRETRAINED:+--finetune "$PRETRAINED"} \
    --output_dir "$out" --log_dir "$out/tb" \
    --batch_size "$BATCH" --num_frames 16 --sampling_rate "$SAMPLING_RATE" --input_size 160 --short_side_size 160 \
    --epochs 100 --warmup_epochs 5 --lr 1e-3 --min_lr 1e-6 --layer_decay 0.75 --weight_decay 0.05 \
    --opt_betas 0.9 0.999 --drop_path 0.1 --init_scale 0.001 --lg_classify_token_type region \
    --test_num_segment 2 --test_num_crop 2 --save_ckpt_freq 1000 --num_workers 16 \
    "${EXTRA[@]}"
done
"$PYTHON" -m engine.aggregate "${outputs[@]}"
