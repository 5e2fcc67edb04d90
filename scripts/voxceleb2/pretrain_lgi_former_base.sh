#!/usr/bin/env bash
# MAE-DFER pretraining on VoxCeleb2 dev with the paper's recipe (scripts/pretrain_voxceleb2.sh), reading the clips
# of the annotation list: DATA_ROOT is the VoxCeleb2 root, DATA the list (python -m preprocess.voxceleb2 writes it).
# On several nodes, start it on each with NNODES, NODE_RANK and MASTER_ADDR set. Time and memory: docs/reproduce.md.
source "$(dirname "${BASH_SOURCE[0]}")/../launch.sh"
DATA=${DATA:-saved/data/voxceleb2/info_clean.csv}
need_data_root VoxCeleb2 "the annotation paths are relative to it"
need_file "annotation file" "$DATA" "prepare VoxCeleb2 first (docs/datasets.md) or set DATA"
CLIPS=(--data_path "$DATA" --data_root "$DATA_ROOT")
source scripts/pretrain_voxceleb2.sh
