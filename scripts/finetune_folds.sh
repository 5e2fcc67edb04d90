#!/usr/bin/env bash
# The fold loop of the per-dataset fine-tuning scripts, which set NAME, DATASET, PAPER_BATCH, GPUS, BATCH,
# SAMPLING_RATE and FOLDS and source this. Runs run_finetuning.py once per fold under torchrun, then prints the
# per-fold table with mean and std. Besides scripts/launch.sh's variables:
#   DATA_DIR    the annotation files (default saved/data/NAME, where python -m preprocess.NAME writes them)
#   FOLDS       the fold folders under DATA_DIR to run (default: all)
#   PRETRAINED  the pretraining checkpoint: by default the one scripts/voxceleb2/pretrain_lgi_former_base.sh
#               writes after 50 epochs, as the released weights were (PRETRAINED= trains from scratch)
#   VAL_SPLIT   0: validate on val.csv (= test.csv, upstream's protocol, the paper's numbers); 0.1: choose
#               checkpoint-best.pth on 10% of each fold's training list, held out (run_finetuning.py --val_split)
# Extra arguments go to run_finetuning.py. Rerun the same command after a crash: every fold resumes from its newest
# checkpoint; finished folds are tested again.
source "$(dirname "${BASH_SOURCE[0]}")/launch.sh"
EPOCHS=${EPOCHS:-100}
MASTER_PORT=${MASTER_PORT:-29511}
VAL_SPLIT=${VAL_SPLIT:-0}
DATA_DIR=${DATA_DIR:-saved/data/$NAME}
PRETRAINED=${PRETRAINED-saved/model/pretraining/voxceleb2/lgi_former_$SIZE/checkpoint-49.pth}
OUTPUT=${OUTPUT:-saved/model/finetuning/$NAME/lgi_former_$SIZE$([ "$VAL_SPLIT" = 0 ] || echo "_val$VAL_SPLIT")}
read -ra folds <<< "$FOLDS"

need_data_root "$DATASET" "the annotation paths are relative to it"
for fold in "${folds[@]}"; do
  for part in train val test; do
    need_file "annotation file" "$DATA_DIR/$fold/$part.csv" "prepare $DATASET first (docs/datasets.md) or set DATA_DIR"
  done
done
[ -z "$PRETRAINED" ] || need_file PRETRAINED "$PRETRAINED" \
  "pretrain first (scripts/voxceleb2/pretrain_lgi_former_base.sh), put the released checkpoint there, or PRETRAINED= for none"
check_total_batch "$PAPER_BATCH"
WORKERS=${WORKERS:-$(default_workers 16)}
outputs=()
for fold in "${folds[@]}"; do
  out="$OUTPUT/$fold"
  outputs+=("$out")
  launch run_finetuning.py \
    --model "lgi_former_${SIZE}_patch16_160" --data_set "$DATASET" \
    --data_path "$DATA_DIR/$fold" --data_root "$DATA_ROOT" --val_split "$VAL_SPLIT" \
    ${PRETRAINED:+--finetune "$PRETRAINED"} \
    --output_dir "$out" --log_dir "$out/tb" --device "$DEVICE" \
    --batch_size "$BATCH" --update_freq "$UPDATE_FREQ" \
    --num_frames 16 --sampling_rate "$SAMPLING_RATE" --input_size 160 --short_side_size 160 \
    --epochs "$EPOCHS" --warmup_epochs 5 --lr 1e-3 --min_lr 1e-6 --layer_decay 0.75 --weight_decay 0.05 \
    --opt_betas 0.9 0.999 --drop_path 0.1 --init_scale 0.001 --lg_classify_token_type region \
    --test_num_segment 2 --test_num_crop 2 --save_ckpt_freq 1000 --num_workers "$WORKERS" \
    "$@"
done
"$PYTHON" -m engine.aggregate "${outputs[@]}"
