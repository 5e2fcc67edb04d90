#!/usr/bin/env bash
# RAVDESS, 6 subject-independent folds (upstream's), with the DFEW recipe: 3 GPUs x 32 clips, lr 1e-3, 100 epochs,
# stride 4. Upstream shipped split files but no script for this set, so the recipe is DFEW's.
GPUS=${GPUS:-3}
BATCH=${BATCH:-32}
DATA_DIR=${DATA_DIR:-saved/data/ravdess}          # written by: python -m preprocess.ravdess --root <RAVDESS> --out saved/data/ravdess
DATA_ROOT=${DATA_ROOT:?set DATA_ROOT to the RAVDESS root: the csv paths are relative to it}
PRETRAINED=${PRETRAINED-saved/model/pretraining/voxceleb2/checkpoint-49.pth}
OUTPUT=${OUTPUT:-saved/model/finetuning/ravdess/lgi_former_base}
DATASET=RAVDESS
SAMPLING_RATE=4
SPLITS=(split01 split02 split03 split04 split05 split06 )
EXTRA=("$@")
source "$(dirname "${BASH_SOURCE[0]}")/../finetune_folds.sh"
