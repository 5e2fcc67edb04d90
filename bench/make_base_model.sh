#!/usr/bin/env bash
# A fine-tuned base LGI-Former (16 blocks, 16 x 160 x 160) on the generated set, to measure what each inference
# precision does to a model that really learned (bench.bench_precision, docs/deployment.md). A short MAE-DFER
# pretraining on the unlabelled pool, then fine-tuning on fold 1 (840 clips), both in bf16 autocast where the CPU
# has bf16 instructions (fp32 elsewhere: pass AMP=none). About 1.5 hours on a 2-core CPU with AMX (its cores shared with other jobs).
#   bash bench/make_base_model.sh     -> saved/model/base_synthetic/finetune/checkpoint-best.pth
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-.venv/bin/python}
DATA=${DATA:-saved/data/synthetic160}
OUT=${OUT:-saved/model/base_synthetic}
AMP=${AMP:-bf16}
PRETRAIN_EPOCHS=${PRETRAIN_EPOCHS:-1}
FINETUNE_EPOCHS=${FINETUNE_EPOCHS:-2}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

$PY -m datasets.synthetic --out "$DATA" --size 160 --num_clips 1400 --num_pretrain 1200 --seed 0 --reuse
common=(--num_frames 16 --input_size 160 --device cpu --num_workers 1 --pin_mem false --seed 0 --amp "$AMP")
$PY run_pretraining.py --model pretrain_lgi_former_base_patch16_160 --data_path "$DATA/pretrain.csv" \
  --mask_type part_window --mask_ratio 0.9 --part_win_size 2 5 10 --sampling_rate 2 \
  --batch_size 8 --epochs "$PRETRAIN_EPOCHS" --warmup_epochs 1 --lr 1.5e-2 --min_lr 1e-4 --opt_betas 0.9 0.95 \
  --output_dir "$OUT/pretrain" "${common[@]}"
$PY run_finetuning.py --model lgi_former_base_patch16_160 --data_set synthetic --data_path "$DATA/split01" \
  --finetune "$OUT/pretrain/checkpoint-$((PRETRAIN_EPOCHS - 1)).pth" --short_side_size 160 \
  --batch_size 8 --epochs "$FINETUNE_EPOCHS" --warmup_epochs 1 --lr 8e-3 --min_lr 1e-5 --layer_decay 0.75 \
  --drop_path 0.1 --smoothing 0.1 --mixup 0 --cutmix 0 --aa none --reprob 0 --crop_scale 0.8 1.0 \
  --test_num_segment 1 --test_num_crop 1 --output_dir "$OUT/finetune" "${common[@]}"
