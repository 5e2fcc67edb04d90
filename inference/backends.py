"""The classifier behind the recognizer, at the precision asked for: a callable from a normalised float tensor
(B, 3, T, H, W) to logits (B, K), the facts the recognizer needs (classes, clip shape, sampling rate), and the
path taken (inference/precision.py).

    classify, facts, choice = load_classifier("checkpoint-best.pth", "cpu", precision="auto")

A .pth (ours or upstream's) or .safetensors checkpoint runs in PyTorch at fp32, bf16 or fp16 (autocast), or in
ONNX Runtime at int8 from an export built on first use and cached (inference/model_cache.py). An exported .onnx
file runs in ONNX Runtime at the precision it was exported with.
"""

import torch

from inference.model_cache import cached_int8_onnx
from inference.precision import PrecisionChoice, PrecisionError, choose_precision

ONNX_PRECISIONS = {"float32": "fp32", "int8": "int8"}  # an export's config -> the path's name


def load_classifier(path, device, precision="auto", cache_dir=None, log=print):
    """(classify, facts, PrecisionChoice) for checkpoint `path`; `precision` is a name (checked on this machine,
    auto resolved) or a PrecisionChoice taken as it is; `log` tells about a first-use build."""
    if str(path).endswith(".onnx"):
        return _exported_onnx(path, precision)
    choice = precision if isinstance(precision, PrecisionChoice) else None
    if precision != "auto" and choice is None:
        choice = choose_precision(precision, device)  # refused here, before the checkpoint is read
    model = None
    if choice is None:  # auto: its choice depends on the model's width
        model, facts = _torch_classifier(path, device)
        choice = choose_precision("auto", device, width=getattr(model, "embed_dim", None))
    if choice.precision == "int8":
        return (*_onnx_classifier(cached_int8_onnx(path, cache_dir, log)), choice)
    if model is None:
        model, facts = _torch_classifier(path, device)
    dtype = choice.autocast_dtype
    if dtype is None:
        return model, facts, choice

    device_type = torch.device(device).type

    def classify(x):  # matrix products in 16 bits; norms, softmax and the residual stream stay float32
        with torch.autocast(device_type, dtype=dtype):
            return model(x).float()

    return classify, facts, choice


def _exported_onnx(path, precision):
    classify, facts = _onnx_classifier(path)
    exported = ONNX_PRECISIONS.get(classify.precision, classify.precision)
    if precision not in ("auto", exported):
        raise PrecisionError(
            f"{path}: exported at {exported}; --precision {precision} needs the .pth or .safetensors checkpoint"
        )
    return classify, facts, PrecisionChoice(exported, "the precision the .onnx file was exported at")


def _torch_classifier(path, device):
    from models.checkpoint import classifier_from_checkpoint

    model, checkpoint = classifier_from_checkpoint(path)
    args = checkpoint.get("args")
    _, clip_len, input_size, _ = model.patch_embed.input_shape
    facts = {
        "class_names": checkpoint.get("class_names"),
        "data_set": getattr(args, "data_set", None),
        "sampling_rate": getattr(args, "sampling_rate", None),
        "num_classes": model.num_classes,
        "clip_len": clip_len,
        "input_size": input_size,
        "device": device,
    }
    return model.to(device), facts


def _onnx_classifier(path):
    from models.onnx_export import OnnxClassifier

    classifier = OnnxClassifier(path)
    facts = {
        "class_names": classifier.class_names,
        "data_set": classifier.data_set,
        "sampling_rate": classifier.sampling_rate,
        "num_classes": classifier.num_classes,
        "clip_len": classifier.num_frames,
        "input_size": classifier.input_size,
        "device": "cpu",
    }
    return classifier, facts
