"""ONNX models built from a .pth or .safetensors checkpoint on first use and kept in a cache, keyed by content.

    onnx_path = cached_int8_onnx("checkpoint-best.pth")  # built once, then found at once

The cache folder is `cache_dir` when given (--cache_dir), else $MAE_DFER_CACHE, else $XDG_CACHE_HOME/mae_dfer
(~/.cache/mae_dfer). An entry is a folder named by the SHA-256 of the checkpoint's bytes (and of the model.json
beside a .safetensors file) and FORMAT, holding model_int8.onnx and its model_int8.json: a changed checkpoint gets a
new entry, a renamed or moved one finds its old entry. The entry is built in a temporary folder and renamed into
place (system.files.write_atomic), so an interrupted build leaves nothing that looks finished. Delete the folder to
clear the cache; move it and point $MAE_DFER_CACHE at the new place.
"""

import hashlib
import os
from pathlib import Path

from models.export_config import config_path
from system.files import write_atomic

INT8_NAME = "model_int8.onnx"  # its config beside it: model_int8.json
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


def cached_int8_onnx(path, cache_dir=None, log=print):
    """The int8 ONNX export of checkpoint `path` from the cache, built there first if missing."""
    from engine.export import export

    entry = cache_folder(cache_dir) / checkpoint_key(path)
    target = entry / INT8_NAME
    if target.exists():
        return target
    entry.parent.mkdir(parents=True, exist_ok=True)
    log(f"building the int8 ONNX model of {path} in {entry} (once; a minute or two)")
    try:
        write_atomic(entry, lambda tmp: export(path, Path(tmp) / INT8_NAME, True))
    except OSError:
        if not target.exists():  # else another process renamed its build into place first
            raise
    return target
