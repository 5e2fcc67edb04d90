#!/usr/bin/env bash
# Pack VoxCeleb2 dev into LitData shards of 160 x 160 JPEG face squares (docs/data_pipeline.md, packed shards):
# every frame of every clip, cut to the square --voxceleb2_crop keeps. Resumable: run it again after an interruption.
# Copy OUT to shared or object storage (s3://...) and pretrain with pretrain_lgi_former_base_shards.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
DATA=${DATA:-saved/data/voxceleb2/info_clean.csv}   # written by: python -m preprocess.voxceleb2 --root <VoxCeleb2> --out saved/data/voxceleb2
DATA_ROOT=${DATA_ROOT:?set DATA_ROOT to the VoxCeleb2 root: the csv paths are relative to it}
OUT=${OUT:-saved/data/voxceleb2/shards}
WORKERS=${WORKERS:-$(nproc)}
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
source scripts/launch.sh
need_folder DATA_ROOT "$DATA_ROOT" "set DATA_ROOT to the VoxCeleb2 root (the csv paths are relative to it)"
need_file "annotation file" "$DATA" "prepare VoxCeleb2 first (docs/datasets.md) or set DATA"
"$PYTHON" -m preprocess.pack_shards --data_path "$DATA" --data_root "$DATA_ROOT" --out "$OUT" \
  --voxceleb2_crop --input_size 160 --quality 95 --workers "$WORKERS" "$@"
