#!/usr/bin/env bash
# RAVDESS, 6 subject-independent folds (upstream's), with the DFEW recipe: a total batch of 96 (3 GPUs x 32 clips),
# lr 1e-3, 100 epochs, frame stride 4. Upstream shipped split files but no script for this set.
# The variables (nodes, GPUs, batch, workers, data root, output, ...): scripts/launch.sh and scripts/finetune_folds.sh;
# the whole path, with time and memory: docs/reproduce.md.
NAME=ravdess  # annotation files: python -m preprocess.ravdess --root "$DATA_ROOT" --out saved/data/ravdess
DATASET=RAVDESS
PAPER_BATCH=96
GPUS=${GPUS:-3}
BATCH=${BATCH:-32}
SAMPLING_RATE=4
FOLDS=${FOLDS:-split01 split02 split03 split04 split05 split06}
source "$(dirname "${BASH_SOURCE[0]}")/../finetune_folds.sh"
