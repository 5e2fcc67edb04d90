"""Reading checkpoints (ours and upstream MAE-DFER releases) and loading weights into a model.

Upstream layout: {'model': state_dict, 'optimizer', 'epoch', 'scaler', 'args': argparse.Namespace}.
Files are opened with `weights_only=True`; argparse.Namespace is allow-listed so upstream files load.
A .safetensors file (with its JSON config) reads into the same layout without any pickle (safetensors_io.py).
CheckpointError and the pure state-dict helpers live in state_dict.py and are re-exported here.
"""

import argparse
import os
import re
import zipfile
from dataclasses import dataclass, field

import torch

from .registry import create_model, model_from_config
from .safetensors_io import read_safetensors
from .state_dict import CheckpointError, is_pretrain_state_dict, pretrain_to_finetune, state_dict_of


def read_checkpoint(path, mmap=False):
    """Open a checkpoint file safely (a .pth, or a .safetensors with its JSON config); one-line
    CheckpointError on any problem. `mmap`: a .pth's tensors stay in the file until used (a classifier needs
    the weights, not the optimizer state); for reading only, as the tensors are pages of the file."""
    if str(path).endswith(".safetensors"):
        return read_safetensors(path)
    if str(path).endswith(".onnx"):
        raise CheckpointError(f"{path}: an ONNX model runs in ONNX Runtime (models.onnx_export.OnnxClassifier)")
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap and zipfile.is_zipfile(path))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: checkpoint file not found") from None
    except Exception as err:  # corrupt file, foreign pickle, truncated download
        text = str(err)
        match = re.search(r"Unsupported global: GLOBAL (\S+)", text)
        if match:
            reason = f"it pickles {match.group(1)}, which safe loading (weights_only) refuses"
        elif (kind := _file_kind(path)) is not None:
            raise CheckpointError(f"{path}: not a PyTorch checkpoint ({kind})") from None
        else:
            reason = text.strip().splitlines()[0] if text.strip() else type(err).__name__
        raise CheckpointError(f"{path}: cannot read checkpoint ({reason})") from None


LEGACY_MAGIC = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19"  # torch.save's pickled magic number, pre-zip format


def _file_kind(path):
    """What a file torch.load refused is, from its first bytes, when that explains the failure; else None."""
    try:
        if os.path.isdir(path):
            return "a folder"
        with open(path, "rb") as f:
            head = f.read(64)
        if head.startswith(b"PK\x03\x04"):
            if not zipfile.is_zipfile(path):
                return "truncated zip archive"
            with zipfile.ZipFile(path) as archive:
                if not any(name.split("/")[-1] == "data.pkl" for name in archive.namelist()):
                    return "a zip archive without data.pkl"
                damaged = archive.testzip()
            return f"corrupt zip archive, {damaged} fails its checksum" if damaged else None
    except (OSError, zipfile.BadZipFile):
        return None
    printable = all(32 <= b < 127 or b in b"\t\n\r" for b in head)
    kinds = (
        (not head, "an empty file"),
        (head.startswith(b"version https://git-lfs"), "a Git LFS pointer; fetch the file with `git lfs pull`"),
        (head.lstrip().lower().startswith((b"<!doctype html", b"<html")), "an HTML page; a failed download?"),
        (printable, "a text file"),
        (head.startswith(b"\x93NUMPY"), "a NumPy array file"),
        (head.startswith(LEGACY_MAGIC), "truncated or damaged file in the legacy (pre-zip) format"),
        (head.startswith(b"\x80"), "a pickle of something else"),
    )
    return next((kind for condition, kind in kinds if condition), "unknown format")


def _summarize(keys):
    """Readable key list: runs of keys sharing a top-level module collapse to 'decoder.* (30)'."""
    groups = {}
    for key in keys:
        groups.setdefault(key.split(".")[0], []).append(key)
    parts = [f"{top}.* ({len(ks)})" if len(ks) > 3 else ", ".join(ks) for top, ks in groups.items()]
    return ", ".join(parts)


@dataclass
class LoadReport:
    loaded: int
    missing: list = field(default_factory=list)
    unexpected: list = field(default_factory=list)
    dropped: list = field(default_factory=list)

    def __str__(self):
        lines = [f"loaded {self.loaded} tensors"]
        for name, keys in (("missing", self.missing), ("unused", self.unexpected), ("dropped", self.dropped)):
            if keys:
                lines.append(f"  {name} ({len(keys)}): {_summarize(keys)}")
        return "\n".join(lines)


def load_weights(model, path, state_dict=None):
    """Load a checkpoint file into `model` (classifier or MAE) and return a LoadReport.

    Pretraining weights are mapped onto a classifier; a classification head whose shape differs
    (another number of classes) is dropped; any other shape mismatch is refused.
    """
    state_dict = state_dict if state_dict is not None else state_dict_of(read_checkpoint(path), path)
    target = model.state_dict()
    is_classifier = not is_pretrain_state_dict(target)
    unused = []
    if is_classifier and is_pretrain_state_dict(state_dict):
        state_dict, unused = pretrain_to_finetune(state_dict)
    dropped = []
    for key in ("head.weight", "head.bias"):
        if is_classifier and key in state_dict and key in target and state_dict[key].shape != target[key].shape:
            dropped.append(f"{key} {tuple(state_dict.pop(key).shape)}")
    mismatched = [
        f"{k}: file {tuple(v.shape)} vs model {tuple(target[k].shape)}"
        for k, v in state_dict.items()
        if k in target and v.shape != target[k].shape
    ]
    if mismatched:
        raise CheckpointError(f"{path}: shapes differ from the model: " + "; ".join(mismatched[:5]))
    result = model.load_state_dict(state_dict, strict=False)
    loaded = len(state_dict) - len(result.unexpected_keys)
    return LoadReport(loaded, list(result.missing_keys), unused + list(result.unexpected_keys), dropped)


def _upstream_model_kwargs(args):
    """Constructor kwargs for an upstream fine-tune checkpoint, from the argparse Namespace it stores."""
    names = {
        "nb_classes": "num_classes",
        "depth": "depth",
        "input_size": "img_size",
        "tubelet_size": "tubelet_size",
        "attn_type": "attn_type",
        "lg_region_size": "lg_region_size",
        "lg_classify_token_type": "lg_classify_token_type",
    }
    kwargs = {ours: getattr(args, theirs) for theirs, ours in names.items() if getattr(args, theirs, None) is not None}
    if getattr(args, "num_frames", None):
        kwargs["all_frames"] = args.num_frames * getattr(args, "num_segments", 1)
    return kwargs


def _kwargs_from_shapes(state_dict):
    """Last resort for a bare state dict: sizes read off the tensors (head dim 64, as every preset)."""
    dim = state_dict["patch_embed.proj.weight"].shape[0]
    depth = 1 + max(int(k.split(".")[1]) for k in state_dict if k.startswith("blocks."))
    kwargs = dict(embed_dim=dim, depth=depth, num_heads=dim // 64, num_classes=state_dict["head.weight"].shape[0])
    if "lg_region_tokens" in state_dict:
        return "lgi_former_base_patch16_160", kwargs
    return "videomae_vit_base_patch16_160", kwargs


def classifier_from_checkpoint(path, checkpoint=None):
    """Rebuild a fine-tuned classifier from its file alone: ours (model_config), an upstream release
    (its argparse args) or a bare state dict (shapes). Returns (model in eval mode, checkpoint dict).
    `checkpoint`: the file's contents when already read."""
    checkpoint = read_checkpoint(path, mmap=True) if checkpoint is None else checkpoint
    state_dict = state_dict_of(checkpoint, path)
    if is_pretrain_state_dict(state_dict):
        raise CheckpointError(f"{path}: is a pretraining checkpoint; fine-tune it first (run_finetuning.py)")
    config = checkpoint.get("model_config") if isinstance(checkpoint, dict) else None
    args = checkpoint.get("args") if isinstance(checkpoint, dict) else None
    try:
        if config:
            model = model_from_config(config)
        elif isinstance(args, argparse.Namespace) and getattr(args, "model", None):
            model = create_model(args.model, **_upstream_model_kwargs(args))
        else:
            name, kwargs = _kwargs_from_shapes(state_dict)
            model = create_model(name, **kwargs)
    except (KeyError, ValueError) as err:  # an unknown model or option, a state dict of something else
        raise CheckpointError(f"{path}: cannot build the model it describes ({err})") from None
    report = load_weights(model, path, state_dict)
    if report.missing or report.dropped:
        raise CheckpointError(f"{path}: does not fit the model it describes ({report})".replace("\n", " "))
    names = checkpoint.get("class_names") if isinstance(checkpoint, dict) else None
    stated = len(names) if names is not None else getattr(args, "nb_classes", None)
    if stated is not None and stated != model.num_classes:
        raise CheckpointError(f"{path}: states {stated} classes, its model predicts {model.num_classes}")
    return model.eval(), checkpoint
