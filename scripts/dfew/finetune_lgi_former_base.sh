#!/usr/bin/env bash
# DFEW, 5 folds, the paper's recipe: a total batch of 96 (3 GPUs x 32 clips), lr 1e-3 (3.75e-4 after scaling),
# 100 epochs, frame stride 4.
# The variables (nodes, GPUs, batch, workers, data root, output, ...): scripts/launch.sh and scripts/finetune_folds.sh;
# the whole path, with time and memory: docs/reproduce.md.
NAME=dfew  # annotation files: python -m preprocess.dfew --root "$DATA_ROOT" --out saved/data/dfew
DATASET=DFEW
PAPER_BATCH=96
GPUS=${GPUS:-3}
BATCH=${BATCH:-32}
SAMPLING_RATE=4
FOLDS=${FOLDS:-split01 split02 split03 split04 split05}
source "$(dirname "${BASH_SOURCE[0]}")/../finetune_folds.sh"
