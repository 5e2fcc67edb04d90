#!/usr/bin/env bash
# The whole pipeline on the embedded, procedurally generated face-video dataset, on CPU:
# generate the data, pretrain a tiny LGI-Former (MAE, appearance + motion targets), fine-tune it on fold 1
# from that checkpoint and from scratch, test both (2 clips per video), print UAR/WAR side by side, and
# run the demo on a test video. The fine-tuning recipe is the paper's minus mixup/CutMix and RandAugment,
# which a 1.5 M-parameter model cannot use in 12 short epochs on 210 clips.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup_env.sh
PY=.venv/bin/python
DATA=saved/data/synthetic
OUT=saved/model/quickstart
PRETRAIN_EPOCHS=${PRETRAIN_EPOCHS:-3}
FINETUNE_EPOCHS=${FINETUNE_EPOCHS:-12}
start=$(date +%s)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

if [ ! -f "$DATA/split01/test.csv" ]; then
  $PY -m datasets.synthetic --out "$DATA" --num_clips 350 --num_pretrain 700 --seed 0
fi

common=(--device cpu --num_workers 1 --pin_mem false --sampling_rate 2 --batch_size 16 --seed 0)
$PY run_pretraining.py --model pretrain_lgi_former_tiny_patch16_160 --data_path "$DATA/pretrain.csv" \
  --epochs "$PRETRAIN_EPOCHS" --warmup_epochs 1 --lr 1.6e-2 --min_lr 1e-4 --opt_betas 0.9 0.95 \
  --mask_type part_window --mask_ratio 0.9 --output_dir "$OUT/pretrain" "${common[@]}"
pretrained=$(ls "$OUT"/pretrain/checkpoint-*.pth | sort -V | tail -n 1)

for run in pretrained scratch; do
  init=()
  [ "$run" = pretrained ] && init=(--finetune "$pretrained")
  $PY run_finetuning.py --model lgi_former_tiny_patch16_160 --data_set synthetic --data_path "$DATA/split01" \
    --epochs "$FINETUNE_EPOCHS" --warmup_epochs 1 --lr 3.2e-2 --min_lr 1e-4 --layer_decay 0.75 --drop_path 0.1 \
    --mixup 0 --cutmix 0 --aa none \
    --test_num_segment 2 --test_num_crop 1 --output_dir "$OUT/finetune_$run" "${init[@]}" "${common[@]}"
done

echo
echo "Fold 1 of the generated set, test split (70 videos), tiny LGI-Former:"
$PY -m engine.aggregate "$OUT/finetune_pretrained" "$OUT/finetune_scratch" --no_summary
video=$(head -n 1 "$DATA/mp4/split01/test.csv" | cut -d' ' -f1)
$PY demo.py "$DATA/mp4/split01/$video" --checkpoint "$OUT/finetune_pretrained/checkpoint-best.pth"
echo "quick start done in $(( $(date +%s) - start )) s"
