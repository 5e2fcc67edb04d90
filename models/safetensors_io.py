"""Checkpoints as `model.safetensors` (the tensors) plus `model.json` beside it (models/export_config.py).

Reading runs no pickle: safetensors holds raw tensors and a JSON header, the config is JSON. The reader
returns the layout of our .pth files, so every loader takes either: {'model', 'model_config', 'epoch',
'class_names', 'args'}, where 'args' is a Namespace with the fields the demo reads from a training run's
arguments (data_set, sampling_rate, num_frames, input_size, nb_classes). A file without its config
reads as a bare state dict.
"""

import argparse
from pathlib import Path

from .export_config import read_config, write_config
from .state_dict import CheckpointError, is_pretrain_state_dict


def save_safetensors(path, state_dict, config):
    """Write `path` (.safetensors) and its JSON config; returns the path."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous() for k, v in state_dict.items()}, str(path))
    write_config(path, config)
    return path


def read_safetensors(path):
    """Open a .safetensors file and its config; one-line CheckpointError on any problem."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not Path(path).exists():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        state_dict = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{path}: cannot read safetensors file ({reason})") from None
    config = read_config(path, required=False)
    if config is None:
        return state_dict
    holds = "pretrain" if is_pretrain_state_dict(state_dict) else "classifier"
    if config["kind"] != holds:
        raise CheckpointError(f"{path}: its config says {config['kind']!r}, the file holds {holds!r} weights")
    args = argparse.Namespace(
        data_set=config.get("data_set"),
        sampling_rate=config.get("sampling_rate"),
        num_frames=config.get("num_frames"),
        input_size=config.get("input_size"),
        nb_classes=config.get("num_classes"),
    )
    return {
        "model": state_dict,
        "model_config": config.get("model"),
        "epoch": config.get("epoch"),
        "class_names": config.get("class_names"),
        "args": args,
    }
