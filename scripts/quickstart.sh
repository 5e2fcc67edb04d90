#!/usr/bin/env bash
# The whole pipeline on the embedded, procedurally generated face-video dataset, on CPU, in about 11 minutes:
# generate the data (64 x 64 face crops), pretrain the tiny LGI-Former briefly to show both MAE losses falling,
# fine-tune on fold 1 (120 labelled clips per class) from the shipped pretrained checkpoint and from scratch
# with the same recipe and budget, test both, write saved/model/quickstart/results.json, and run the demo
# on a new generated video and on a generated film with two people. docs/quickstart.md explains the choices and how the shipped checkpoint was made.
#   REPRETRAIN=1 bash scripts/quickstart.sh   re-creates the shipped checkpoint (100 epochs, about 45 min)
#                                             with the exact command below and fine-tunes from it instead
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup_env.sh
PY=.venv/bin/python
DATA=${DATA:-saved/data/synthetic}
OUT=${OUT:-saved/model/quickstart}
SHIPPED=assets/pretrain_lgi_former_tiny_patch16_64_synthetic.pth
NUM_CLIPS=${NUM_CLIPS:-1400}           # labelled clips: fold 1 trains on 840, validates on 280, tests on 280
NUM_PRETRAIN=${NUM_PRETRAIN:-3000}     # the unlabelled pool
PRETRAIN_EPOCHS=${PRETRAIN_EPOCHS:-2}  # the short pretraining; the shipped checkpoint had 100
FINETUNE_EPOCHS=${FINETUNE_EPOCHS:-25}
REPRETRAIN=${REPRETRAIN:-0}
WORKERS=${WORKERS:-1}
start=$(date +%s)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

# --reuse: a second run keeps the data unless the generator or these arguments changed.
$PY -m datasets.synthetic --out "$DATA" --size 64 --num_clips "$NUM_CLIPS" --num_pretrain "$NUM_PRETRAIN" --seed 0 --reuse

# 8 frames, 4 apart: a 4 x 4 x 4 token grid in 2 regions of 4 x 2 x 4 (the top and the bottom of the face).
common=(--num_frames 8 --sampling_rate 4 --lg_region_size 4 2 4 --device cpu --num_workers "$WORKERS"
  --pin_mem false --seed 0)
# Half of the 16 token positions masked (8 visible, as upstream's 90% of 100 leaves 10), the whole frame (no
# multi-scale crop) and every visible token at its own decoder position: docs/quickstart.md says why.
pretrain=(--model pretrain_lgi_former_tiny_patch16_64 --input_size 64 --data_path "$DATA/pretrain.csv"
  --batch_size 32 --lr 1.2e-2 --min_lr 1e-4 --opt_betas 0.9 0.95 --mask_type part_window --mask_ratio 0.5
  --part_win_size 2 2 4 --no_augmentation --decoder_pos_order raster "${common[@]}")
if [ "$REPRETRAIN" = 1 ]; then
  $PY run_pretraining.py "${pretrain[@]}" --epochs 100 --warmup_epochs 2 --save_ckpt_freq 10 \
    --output_dir "$OUT/pretrain_full"
  pretrained="$OUT/pretrain_full/checkpoint-99.pth"
else
  $PY run_pretraining.py "${pretrain[@]}" --epochs "$PRETRAIN_EPOCHS" --warmup_epochs 1 --output_dir "$OUT/pretrain"
  pretrained=$SHIPPED
fi

# What the pretrained model reconstructs of a test clip: input, masked input, appearance, motion target, motion.
$PY visualize_reconstruction.py "$pretrained" "$DATA/mp4/split01/test.csv" --max_clips 1 --output "$OUT/reconstruction"

finetune=(--model lgi_former_tiny_patch16_64 --input_size 64 --short_side_size 64 --data_set synthetic
  --data_path "$DATA/split01" --batch_size 16 --epochs "$FINETUNE_EPOCHS" --warmup_epochs 2 --min_lr 1e-5
  --lg_classify_token_type org --layer_decay 1.0 --drop_path 0 --reprob 0 --smoothing 0 --mixup 0 --cutmix 0
  --aa none --crop_scale 0.8 1.0 --test_num_segment 2 --test_num_crop 1 "${common[@]}")
# Each start at the base lr its own validation sweep over 4e-3, 1.6e-2, 6.4e-2 chose (docs/quickstart.md).
$PY run_finetuning.py "${finetune[@]}" --lr 1.6e-2 --finetune "$pretrained" --output_dir "$OUT/finetune_pretrained"
$PY run_finetuning.py "${finetune[@]}" --lr 4e-3 --output_dir "$OUT/finetune_scratch"

echo
echo "Fold 1 of the generated set, test split ($(wc -l < "$DATA/split01/test.csv") videos), tiny LGI-Former:"
$PY -m engine.aggregate "$OUT/finetune_pretrained" "$OUT/finetune_scratch" --no_summary --json "$OUT/results.json"
# The demo on a new video (seed 1, 3-5 s): the face rests for its first 40%, then its class's expression comes.
$PY -m datasets.synthetic --out "$DATA/demo" --size 64 --num_clips 1 --num_pretrain 0 --num_frames 100 --seed 1 \
  --onset 0.4 --reuse
read -r video label < <(head -n 1 "$DATA/demo/mp4/split01/test.csv")
class=$($PY -c "from datasets.labels import DFEW_CLASSES; print(DFEW_CLASSES[$label])")
$PY demo.py "$DATA/demo/mp4/split01/$video" --checkpoint "$OUT/finetune_pretrained/checkpoint-best.pth" \
  --detector none --hop 2 --true_label "$class" --output "$OUT/demo/$(basename "$video" .mp4)"
# Two people in a film that cuts between them every 2 s, one happy, one surprised: a timeline per person.
$PY -m datasets.scenes --kind cutting --labels happy surprise --out "$DATA/demo/two_people.mp4"
$PY demo.py "$DATA/demo/two_people.mp4" --checkpoint "$OUT/finetune_pretrained/checkpoint-best.pth" --hop 4 \
  --output "$OUT/demo/two_people"
echo "quick start done in $(( $(date +%s) - start )) s"
