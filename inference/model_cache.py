"""ONNX models built from a .pth or .safetensors checkpoint on first use and kept in a cache, keyed by content.

    onnx_path = cached_onnx("checkpoint-best.pth", int8=True)  # built once, then found at once

The cache folder is `cache_dir` when given (--cache_dir), else $MAE_DFER_CACHE, else $XDG_CACHE_HOME/mae_dfer
(~/.cache/mae_dfer). An entry is a folder named by the SHA-256 of the checkpoint's bytes (and of the model.json
beside a .safetensors file) and FORMAT, holding model_int8.onnx or model_fp32.onnx and its model.json: a changed
checkpoint gets a new entry, a renamed or moved one finds its old entry. Each file is written under a temporary
name and renamed into place, so an interrupted build leaves nothing that looks finished. Delete the folder to clear
the cache; move it and point $MAE_DFER_CACHE at the new place.
"""

import hashlib
import os
import tempfile
from pathlib import Path

from models.export_config import config_path

FORMAT = 1  # part of every key: bump when what engine.export writes changes so that old entries must not be used


def cache_folder(cache_dir=None):
    """Where built models are kept (see the module docstring)."""
    if cache_dir:
        return Path(cache_dir)
    if os.environ.get("MAE_DFER_CACHE"):
        return Path(os.environ["MAE_DFER_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mae_dfer"


def checkpoint_key(path):
    """SHA-256 (hex, first 24 digits) of the checkpoint's bytes, its config's for a .safetensors file, and FORMAT."""
    digest = hashlib.sha256(f"format {FORMAT}\n".encode())
    files = [Path(path)] + ([config_path(path)] if str(path).endswith(".safetensors") else [])
    for file in files:
        if file.exists():
            with open(file, "rb") as f:
                digest.update(hashlib.file_digest(f, "sha256").digest())
    return digest.hexdigest()[:24]


def cached_onnx(path, int8, cache_dir=None, log=print):
    """The ONNX export of checkpoint `path` (int8 or float32) from the cache, built there first if missing."""
    from engine.export import export

    name = "model_int8.onnx" if int8 else "model_fp32.onnx"
    entry = cache_folder(cache_dir) / checkpoint_key(path)
    target = entry / name
    if target.exists() and config_path(target).exists():
        return target
    entry.mkdir(parents=True, exist_ok=True)
    log(f"building the {'int8' if int8 else 'float32'} ONNX model of {path} in {entry} (once; a minute or two)")
    with tempfile.TemporaryDirectory(dir=entry, prefix=".build-") as tmp:
        built = export(path, Path(tmp) / name, int8)
        os.replace(config_path(built), config_path(target))  # the config first: the model's presence marks done
        os.replace(built, target)
    return target
