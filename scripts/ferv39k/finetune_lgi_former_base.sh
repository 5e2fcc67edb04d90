#!/usr/bin/env bash
# FERV39k, one split, paper setting: 3 GPUs x 40 clips, lr 1e-3 (4.6875e-4 after scaling), 100 epochs, stride 1.
GPUS=${GPUS:-3}
BATCH=${BATCH:-40}
DATA_DIR=${DATA_DIR:-saved/data/ferv39k}          # written by: python -m preprocess.ferv39k --root <FERV39k> --out saved/data/ferv39k
DATA_ROOT=${DATA_ROOT:?set DATA_ROOT to the FERV39k root: the csv paths are relative to it}
PRETRAINED=${PRETRAINED-saved/model/pretraining/voxceleb2/checkpoint-49.pth}
OUTPUT=${OUTPUT:-saved/model/finetuning/ferv39k/lgi_former_base}
DATASET=FERV39k
SAMPLING_RATE=1
SPLITS=(all_scenes)
EXTRA=("$@")
source "$(dirname "${BASH_SOURCE[0]}")/../finetune_folds.sh"
