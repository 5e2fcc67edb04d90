#!/usr/bin/env bash
# Pack VoxCeleb2 dev into LitData shards of 160 x 160 JPEG face squares (docs/data_pipeline.md, packed shards):
# every frame of every clip, cut to the square --voxceleb2_crop keeps. Resumable: run it again after an interruption.
# DATA_ROOT is the VoxCeleb2 root, DATA its list; SHARDS the output folder: copy it to shared or object storage
# (s3://...) and pretrain with pretrain_lgi_former_base_shards.sh and the same SHARDS.
source "$(dirname "${BASH_SOURCE[0]}")/../launch.sh"
DATA=${DATA:-saved/data/voxceleb2/info_clean.csv}   # written by: python -m preprocess.voxceleb2 --root "$DATA_ROOT" --out saved/data/voxceleb2
SHARDS=${SHARDS:-saved/data/voxceleb2/shards}
WORKERS=${WORKERS:-$(nproc)}
need_data_root VoxCeleb2 "the annotation paths are relative to it"
need_file "annotation file" "$DATA" "prepare VoxCeleb2 first (docs/datasets.md) or set DATA"
"$PYTHON" -m preprocess.pack_shards --data_path "$DATA" --data_root "$DATA_ROOT" --out "$SHARDS" \
  --voxceleb2_crop --input_size 160 --quality 95 --workers "$WORKERS" "$@"
