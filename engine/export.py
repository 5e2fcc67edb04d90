"""Export a checkpoint (ours or an upstream release; pretraining or fine-tuned) to safetensors or ONNX.

    python -m engine.export checkpoint-best.pth out/model.safetensors   # + out/model.json
    python -m engine.export checkpoint-best.pth out/model.onnx          # classifiers only; float32
    python -m engine.export checkpoint-best.pth out/model_int8.onnx --int8

The suffix of the destination picks the format. The JSON config beside it (models/export_config.py) records
the model's name and kwargs, class names, sampling rate, clip length and input size. A .safetensors file
loads wherever a checkpoint path is taken (--finetune, --resume, --eval, demo.py --checkpoint); a .onnx file
runs through models.onnx_export.OnnxClassifier. Any readable checkpoint is a valid source, .safetensors too.
"""

import argparse
from pathlib import Path

from datasets.specs import get_spec
from models import CheckpointError, read_checkpoint, state_dict_of
from models.checkpoint import classifier_from_checkpoint, is_pretrain_state_dict
from models.onnx_export import export_onnx
from models.safetensors_io import save_safetensors

FORMATS = (".safetensors", ".onnx")


def _spec(data_set):
    try:
        return get_spec(data_set) if data_set else None
    except ValueError:  # a dataset this repository has no record of
        return None


def export_config(checkpoint, model=None):
    """The config of an export. `model`: the classifier rebuilt from the checkpoint (its config, classes and
    clip shape); None for a pretraining checkpoint (clip shape from its args). Labels and sampling rate come
    from the training args, else the dataset's record."""
    args = checkpoint.get("args")
    if model is not None:
        kind, model_config, num_classes = "classifier", model.model_config, model.num_classes
        _, num_frames, input_size, _ = model.patch_embed.input_shape
    else:
        kind, model_config, num_classes = "pretrain", checkpoint.get("model_config"), None
        num_frames, input_size = getattr(args, "num_frames", None), getattr(args, "input_size", None)
    data_set = getattr(args, "data_set", None)
    spec = _spec(data_set)
    names = checkpoint.get("class_names")
    if names is None and spec is not None and spec.num_classes == num_classes:
        names = list(spec.class_names)
    epoch = checkpoint.get("epoch")
    return {
        "kind": kind,
        "model": model_config,
        "num_classes": num_classes,
        "class_names": names,
        "data_set": spec.name if spec else data_set,
        "sampling_rate": getattr(args, "sampling_rate", None) or (spec.sampling_rate if spec else None),
        "num_frames": num_frames,
        "input_size": input_size,
        "epoch": epoch if isinstance(epoch, (int, str)) else None,
    }


def export(src, dst, int8=False):
    """Write `src` as `dst` (.safetensors or .onnx) plus its config; returns dst as a Path."""
    dst = Path(dst)
    if dst.suffix not in FORMATS:
        raise ValueError(f"{dst}: the destination must end in {' or '.join(FORMATS)}")
    if int8 and dst.suffix != ".onnx":
        raise ValueError("--int8 applies to ONNX exports (a .onnx destination)")
    checkpoint = read_checkpoint(src)
    state_dict = state_dict_of(checkpoint, src)
    if not isinstance(checkpoint, dict) or checkpoint is state_dict:
        checkpoint = {"model": state_dict}  # a bare state dict
    if is_pretrain_state_dict(state_dict):
        if dst.suffix == ".onnx":
            raise CheckpointError(f"{src}: is a pretraining checkpoint; only a fine-tuned classifier exports to ONNX")
        return save_safetensors(dst, state_dict, export_config(checkpoint))
    model, _ = classifier_from_checkpoint(src, checkpoint)
    config = export_config(checkpoint, model)
    if dst.suffix == ".onnx":
        return export_onnx(model, dst, config, int8)
    return save_safetensors(dst, model.state_dict(), config)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src", help="a checkpoint: .pth (ours or upstream's) or .safetensors")
    parser.add_argument("dst", help="model.safetensors or model.onnx; the config goes beside it as model.json")
    parser.add_argument("--int8", action="store_true", help="ONNX only: int8 dynamic quantisation (faster on CPU)")
    cli = parser.parse_args()
    try:
        path = export(cli.src, cli.dst, cli.int8)
    except (CheckpointError, ValueError) as err:
        raise SystemExit(f"error: {err}") from None
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) and {path.with_suffix('.json')}")
