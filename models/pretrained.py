"""Any checkpoint as a model to look inside: the MAE of a pretraining file, the encoder trunk of any file.

Pretraining files are rebuilt from the `model_config` ours store, or from the argparse args of an upstream
release (`run_mae_pretraining.py` flags: model, encoder_depth, decoder_depth, input_size, lg_region_size, ...).
Fine-tuned files go through `classifier_from_checkpoint`. Problems are one-line CheckpointErrors.
"""

import argparse
from dataclasses import dataclass, field

from torch import nn

from .checkpoint import (
    CheckpointError,
    classifier_from_checkpoint,
    is_pretrain_state_dict,
    load_weights,
    read_checkpoint,
    state_dict_of,
)
from .registry import create_model, model_from_config

# Upstream (and our) pretraining flag -> model keyword.
_PRETRAIN_FLAGS = {
    "encoder_depth": "depth",
    "decoder_depth": "decoder_depth",
    "input_size": "img_size",
    "num_frames": "num_frames",
    "tubelet_size": "tubelet_size",
    "attn_type": "attn_type",
    "decoder_pos_order": "decoder_pos_order",
    "normlize_target": "normalize_target",
    "use_frame_diff_as_target": "frame_diff_target",
    "target_diff_weight": "motion_weight",
}


def checkpoint_args(checkpoint):
    """The training flags a checkpoint stores, as a dict ({} when it has none)."""
    args = checkpoint.get("args") if isinstance(checkpoint, dict) else None
    return vars(args) if isinstance(args, argparse.Namespace) else {}


def _pretrain_kwargs(args):
    kwargs = {ours: args[flag] for flag, ours in _PRETRAIN_FLAGS.items() if args.get(flag) is not None}
    if args.get("lg_region_size"):
        kwargs["region_size"] = tuple(args["lg_region_size"])
    return kwargs


def mae_from_checkpoint(path, checkpoint=None):
    """Rebuild a pretraining model (encoder + decoder) from its file alone: (MAE in eval mode, checkpoint).
    `checkpoint`: the file's contents when the caller has read it already."""
    checkpoint = read_checkpoint(path) if checkpoint is None else checkpoint
    state_dict = state_dict_of(checkpoint, path)
    if not is_pretrain_state_dict(state_dict):
        raise CheckpointError(f"{path}: is a fine-tuned classifier, not a pretraining checkpoint (it has no decoder)")
    config = checkpoint.get("model_config") if isinstance(checkpoint, dict) else None
    args = checkpoint_args(checkpoint)
    try:
        if config:
            model = model_from_config(config)
        elif args.get("model"):
            model = create_model(args["model"], **_pretrain_kwargs(args))
        else:
            raise CheckpointError(f"{path}: holds neither model_config nor the training args; cannot tell its model")
    except ValueError as err:
        if isinstance(err, CheckpointError):
            raise
        raise CheckpointError(f"{path}: cannot rebuild its model ({err})") from None
    report = load_weights(model, path, state_dict)
    if report.missing or report.unexpected:
        raise CheckpointError(f"{path}: does not fit the model it describes ({report})".replace("\n", " "))
    return model.eval(), checkpoint


@dataclass
class Encoder:
    """The trunk of a checkpoint (`forward_features(x) -> tokens, order`), and what the file says about it."""

    trunk: nn.Module  # LGIFormer or VisionTransformer (an MAE's encoder, or the classifier itself)
    kind: str  # "pretrain" or "finetune"
    args: dict = field(default_factory=dict)  # the training flags stored in the file
    classifier: nn.Module | None = None  # the fine-tuned classifier, head included
    path: str = ""  # the file it came from

    def to(self, device):
        self.trunk.to(device)
        return self

    @property
    def input_shape(self):
        """(3, T, S, S) the trunk takes."""
        return self.trunk.patch_embed.input_shape


def encoder_from_checkpoint(path):
    """Pretraining or fine-tuned, ours or upstream: the Encoder of a checkpoint file, in eval mode."""
    checkpoint = read_checkpoint(path)
    if is_pretrain_state_dict(state_dict_of(checkpoint, path)):
        model, checkpoint = mae_from_checkpoint(path, checkpoint)
        return Encoder(model.encoder, "pretrain", checkpoint_args(checkpoint), path=str(path))
    model, checkpoint = classifier_from_checkpoint(path, checkpoint)
    return Encoder(model, "finetune", checkpoint_args(checkpoint), classifier=model, path=str(path))
