#!/usr/bin/env bash
# DFEW, 5 folds, paper setting: 3 GPUs x 32 clips, lr 1e-3 (3.75e-4 after scaling), 100 epochs, stride 4.
GPUS=${GPUS:-3}
BATCH=${BATCH:-32}
DATA_DIR=${DATA_DIR:-saved/data/dfew}             # written by: python -m preprocess.dfew --root <DFEW> --out saved/data/dfew
DATA_ROOT=${DATA_ROOT:?set DATA_ROOT to the DFEW root (csv paths are relative to it)}
PRETRAINED=${PRETRAINED-saved/model/pretraining/voxceleb2/checkpoint-49.pth}
OUTPUT=${OUTPUT:-saved/model/finetuning/dfew/lgi_former_base}
DATASET=DFEW
SAMPLING_RATE=4
SPLITS=(split01 split02 split03 split04 split05)
EXTRA=("$@")
source "$(dirname "${BASH_SOURCE[0]}")/../finetune_folds.sh"
