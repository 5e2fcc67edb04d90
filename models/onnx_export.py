"""A classifier in ONNX Runtime: export with a free batch size (optionally int8) and `OnnxClassifier`.

    export_onnx(model, "out/model.onnx", config)             # float32: PyTorch's logits within 1e-4
    export_onnx(model, "out/model.onnx", config, int8=True)  # int8 weights in the linear layers, activations
                                                              # quantised on the fly (dynamic quantisation)
    classifier = OnnxClassifier("out/model.onnx")
    logits = classifier(x)                                    # x: float B, 3, T, H, W, normalised as for PyTorch

The graph maps 'video' (B, 3, T, H, W) to 'logits' (B, num_classes). Its config (models/export_config.py)
sits beside it as model.json; `OnnxClassifier` exposes it as attributes.
"""

import tempfile
import warnings
from pathlib import Path

import torch

from .checkpoint import CheckpointError
from .export_config import read_config, write_config

INPUT, OUTPUT = "video", "logits"


def quantize_int8(src, dst):
    """Dynamic int8 quantisation of the MatMuls with a constant weight (the linear layers), one weight scale
    per output channel. Attention's activation-by-activation products, the patch embedding's Conv, norms and
    softmax stay float32."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(src),
        str(dst),
        per_channel=True,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=["MatMul", "Gemm"],
        extra_options={"MatMulConstBOnly": True},
    )


def export_onnx(model, path, config, int8=False):
    """Write `model` (a classifier) to `path` and its config beside it; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(2, *model.patch_embed.input_shape)  # B=2 so the batch stays symbolic
    with tempfile.TemporaryDirectory() as tmp:
        graph = Path(tmp) / "float32.onnx" if int8 else path
        with warnings.catch_warnings(), torch.no_grad():
            warnings.filterwarnings("ignore", module=r"onnxscript|torch\.onnx")  # exporter chatter
            torch.onnx.export(
                model.eval(),
                (example,),
                str(graph),
                input_names=[INPUT],
                output_names=[OUTPUT],
                dynamic_shapes=({0: torch.export.Dim("batch")},),
                dynamo=True,
                external_data=False,
                verbose=False,
            )
        if int8:
            quantize_int8(graph, path)
    write_config(path, {**config, "precision": "int8" if int8 else "float32"})
    return path


class OnnxClassifier:
    """Runs an exported classifier like the PyTorch one: `classifier(x)` with x a float tensor
    B, 3, T, H, W returns the logits B, num_classes as a CPU float tensor.

    Attributes from the config: num_classes, class_names (or None), sampling_rate, num_frames,
    input_size, input_shape (3, T, H, W), precision, data_set, config (all of it)."""

    def __init__(self, path, threads=None, providers=("CPUExecutionProvider",)):
        import onnxruntime as ort

        path = Path(path)
        if not path.exists():
            raise CheckpointError(f"{path}: ONNX model file not found")
        config = read_config(path)
        missing = [k for k in ("num_classes", "num_frames", "input_size") if config.get(k) is None]
        if config["kind"] != "classifier" or missing:
            needs = f" (needs {', '.join(missing)})" if missing else ""
            raise CheckpointError(f"{path.with_suffix('.json')}: not the config of a classifier{needs}")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(path), options, providers=list(providers))
        except Exception as err:  # ONNX Runtime raises its own types for a corrupt or foreign file
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise CheckpointError(f"{path}: cannot load the ONNX model ({reason})") from None
        self.config = config
        self.num_classes = config["num_classes"]
        self.class_names = config.get("class_names")
        self.sampling_rate = config.get("sampling_rate")
        self.num_frames = config["num_frames"]
        self.input_size = config["input_size"]
        self.input_shape = (3, self.num_frames, self.input_size, self.input_size)
        self.precision = config.get("precision", "float32")
        self.data_set = config.get("data_set")

    def __call__(self, x):
        if x.ndim != 5 or tuple(x.shape[1:]) != self.input_shape:
            expected = "(B, " + ", ".join(map(str, self.input_shape)) + ")"
            raise ValueError(f"expected a clip of shape {expected}, got {tuple(x.shape)}")
        video = x.detach().to("cpu", torch.float32).contiguous().numpy()
        (logits,) = self.session.run([OUTPUT], {INPUT: video})
        return torch.from_numpy(logits)
