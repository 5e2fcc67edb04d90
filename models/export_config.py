"""The JSON config written beside an exported model (`model.safetensors` or `model.onnx` -> `model.json`).

It holds what running the model needs besides its weights, so the file pair is self-contained:

    kind           "classifier" or "pretrain"
    model          the model_config checkpoints store: {"name": ..., **kwargs} or {"upstream": {...}};
                   null for an upstream pretraining file (load it into a model you build, e.g. --finetune)
    num_classes    classifier outputs
    class_names    one name per output, or null when the checkpoint did not say
    data_set       the dataset it was trained on, or null
    sampling_rate  frame step inside a clip
    num_frames     clip length in frames
    input_size     frame side in pixels
    epoch          the epoch the weights come from, or null
    precision      ONNX files only: "float32" or "int8"

Reading validates types and tells the first problem in one line naming the file.
"""

import json
from pathlib import Path

from .state_dict import CheckpointError

_FIELDS = {
    "kind": (str,),
    "model": (dict, type(None)),
    "num_classes": (int, type(None)),
    "class_names": (list, type(None)),
    "data_set": (str, type(None)),
    "sampling_rate": (int, type(None)),
    "num_frames": (int, type(None)),
    "input_size": (int, type(None)),
    "epoch": (int, str, type(None)),
    "precision": (str,),
}
KINDS = ("classifier", "pretrain")


def config_path(path):
    """model.safetensors / model.onnx -> model.json beside it."""
    return Path(path).with_suffix(".json")


def write_config(path, config):
    """Write the config beside `path`; returns the config file's path."""
    target = config_path(path)
    target.write_text(json.dumps(config, indent=2) + "\n")
    return target


def read_config(path, required=True):
    """The config beside `path`, validated; None when absent and not `required`."""
    target = config_path(path)
    if not target.exists():
        if required:
            raise CheckpointError(f"{target}: config file not found (it is written beside {Path(path).name})")
        return None
    try:
        config = json.loads(target.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{target}: not a valid JSON config ({err})") from None
    problem = _check(config)
    if problem:
        raise CheckpointError(f"{target}: {problem}")
    return config


def _check(config):
    """The first problem of a config, or None."""
    if not isinstance(config, dict):
        return f"expected a JSON object, got {type(config).__name__}"
    for key, types in _FIELDS.items():
        value = config.get(key)
        if key in config and (not isinstance(value, types) or isinstance(value, bool)):
            return f"{key!r} must be {' or '.join(t.__name__ for t in types)}, got {value!r}"
    if config.get("kind") not in KINDS:
        return f"'kind' must be one of {', '.join(KINDS)}, got {config.get('kind')!r}"
    model = config.get("model")
    if model is not None and not isinstance(model.get("name"), str) and not isinstance(model.get("upstream"), dict):
        return "'model' needs a 'name' (a registered model) or an 'upstream' constructor description"
    names, num_classes = config.get("class_names"), config.get("num_classes")
    if names is not None and not all(isinstance(n, str) for n in names):
        return "'class_names' must be a list of strings"
    if names is not None and num_classes is not None and len(names) != num_classes:
        return f"{len(names)} class_names for {num_classes} classes"
    for key in ("num_classes", "sampling_rate", "num_frames", "input_size"):
        if config.get(key) is not None and config[key] < 1:
            return f"{key!r} must be positive, got {config[key]}"
    return None
