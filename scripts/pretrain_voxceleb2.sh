#!/usr/bin/env bash
# The pretraining recipe shared by scripts/voxceleb2/pretrain_lgi_former_base.sh (clips from the annotation list)
# and pretrain_lgi_former_base_shards.sh (packed shards): they set CLIPS, the data flags, and source this.
# Paper setting: LGI-Former (16 blocks, regions 2x5x10), 90% part-window tube mask, appearance + motion targets,
# AdamW (0.9, 0.95), lr 3e-4 base, 5 warmup epochs of a 100-epoch cosine schedule. The released weights are
# checkpoint-49.pth, written after epoch 50 (the authors' log ends there): the fine-tuning scripts take that file by
# default, so the run may be stopped once it exists; a full run keeps it (one checkpoint kept every 10 epochs). The
# released run's lr peaked at 1.875e-4 = 3e-4 x 160 / 256: a total batch of 160, which the defaults reproduce.
# Variables: scripts/launch.sh; SAVE_STEPS also checkpoints every N steps inside an epoch (0: never). Rerun the
# same command after a crash (on every node) and the run resumes from its newest checkpoint.
source "$(dirname "${BASH_SOURCE[0]}")/launch.sh"
GPUS=${GPUS:-5}
BATCH=${BATCH:-32}
EPOCHS=${EPOCHS:-100}
SAVE_STEPS=${SAVE_STEPS:-0}
MASTER_PORT=${MASTER_PORT:-29510}
OUTPUT=${OUTPUT:-saved/model/pretraining/voxceleb2/lgi_former_$SIZE}
check_total_batch 160
WORKERS=${WORKERS:-$(default_workers 20)}
launch run_pretraining.py \
  --model "pretrain_lgi_former_${SIZE}_patch16_160" "${CLIPS[@]}" --voxceleb2_crop \
  --mask_type part_window --mask_ratio 0.9 --part_win_size 2 5 10 \
  --use_frame_diff_as_target true --normlize_target true \
  --batch_size "$BATCH" --update_freq "$UPDATE_FREQ" --num_frames 16 --sampling_rate 4 --input_size 160 \
  --epochs "$EPOCHS" --warmup_epochs 5 --lr 3e-4 --min_lr 1e-5 --weight_decay 0.05 --opt_betas 0.9 0.95 \
  --save_ckpt_freq 10 --save_every_steps "$SAVE_STEPS" --num_workers "$WORKERS" --device "$DEVICE" \
  --output_dir "$OUTPUT" --log_dir "$OUTPUT/tb" "$@"
