#!/usr/bin/env bash
# FERV39k, one split, the paper's recipe: a total batch of 120 (3 GPUs x 40 clips), lr 1e-3 (4.6875e-4 after
# scaling), 100 epochs, frame stride 1.
# The variables (nodes, GPUs, batch, workers, data root, output, ...): scripts/launch.sh and scripts/finetune_folds.sh;
# the whole path, with time and memory: docs/reproduce.md.
NAME=ferv39k  # annotation files: python -m preprocess.ferv39k --root "$DATA_ROOT" --out saved/data/ferv39k
DATASET=FERV39k
PAPER_BATCH=120
GPUS=${GPUS:-3}
BATCH=${BATCH:-40}
SAMPLING_RATE=1
FOLDS=${FOLDS:-all_scenes}
source "$(dirname "${BASH_SOURCE[0]}")/../finetune_folds.sh"
