"""A classifier in ONNX Runtime: export with a free batch size (optionally int8) and `OnnxClassifier`.

    export_onnx(model, "out/model.onnx", config)             # float32: PyTorch's logits within 1e-4
    export_onnx(model, "out/model.onnx", config, int8=True)  # 8-bit weights in the linear layers, activations
                                                              # quantised on the fly (dynamic quantisation),
                                                              # the same logits on AVX2-only CPUs as with VNNI
    classifier = OnnxClassifier("out/model.onnx")
    logits = classifier(x)                                    # x: float B, 3, T, H, W, normalised as for PyTorch

The graph maps 'video' (B, 3, T, H, W) to 'logits' (B, num_classes). Its config (models/export_config.py)
sits beside it as model.json; `OnnxClassifier` exposes it as attributes.
"""

import functools
import logging
import tempfile
import warnings
from pathlib import Path

import torch

from .checkpoint import CheckpointError
from .export_config import read_config, write_config

INPUT, OUTPUT = "video", "logits"


def quantize_int8(src, dst):
    """Dynamic 8-bit quantisation of the MatMuls with a constant weight (the linear layers), one weight scale and
    zero point per output channel; activations are quantised to uint8 on the fly. Attention's
    activation-by-activation products, the patch embedding's Conv, norms and softmax stay float32.

    The weights are stored as uint8 ("U8U8"), which every ONNX Runtime multiplies exactly. Its uint8 x int8
    ("U8S8") kernels for x86 CPUs without VNNI (AVX2, AVX-512 without VNNI) use VPMADDUBSW, whose int16 sums
    of two products saturate (255 * 127 * 2 > 32767: int8 weights moved the reference case's logits by 0.21 on
    an AVX2-only CPU); with VNNI or AMX, U8S8 is exact and about 1.8x as fast as U8U8, so `OnnxClassifier`
    moves the weights to int8 where `u8s8_saturates()` is False (the same products: `weights_as`)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    quiet = logging.NullHandler()  # its advice to pre-process would otherwise set up the process's root logger
    root.addHandler(quiet)
    try:
        quantize_dynamic(
            str(src),
            str(dst),
            per_channel=True,
            weight_type=QuantType.QUInt8,
            op_types_to_quantize=["MatMul", "Gemm"],
            extra_options={"MatMulConstBOnly": True},
        )
    finally:
        root.removeHandler(quiet)


@functools.cache
def u8s8_saturates():
    """Whether ONNX Runtime's uint8 x int8 matrix product saturates on this CPU (x86 without VNNI or AMX): one
    MatMulInteger of 255s by 127s, compared with its exact sum."""
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    m, k, n = 4, 64, 16
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["a", "b"], ["y"])],
        "u8s8_probe",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, [m, k])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, [m, n])],
        [numpy_helper.from_array(np.full((k, n), 127, np.int8), "b")],
    )
    probe = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    (y,) = session.run(None, {"a": np.full((m, k), 255, np.uint8)})
    return bool((y != 255 * 127 * k).any())


QUANTISED_MATMULS = ("MatMulInteger", "DynamicQuantizeMatMul")  # inputs 1 and 3: the weight, its zero point


def weights_as(model, signed):
    """Move the 8-bit weights of `model`'s (an onnx.ModelProto) quantised MatMuls and their zero points by 128
    into int8 (`signed`) or uint8: weight - zero point, so every product, stays the same. Returns how many
    weights moved and how many of another type are left (those without a zero point to move with them)."""
    import numpy as np
    from onnx import TensorProto, numpy_helper

    dtype, other = (np.int8, TensorProto.UINT8) if signed else (np.uint8, TensorProto.INT8)
    initializers = {t.name: t for t in model.graph.initializer}
    moved, weights, left = set(), set(), set()
    for node in model.graph.node:
        if node.op_type not in QUANTISED_MATMULS:
            continue
        weight, zero_point = (initializers.get(name) for name in [*node.input[1:4:2], ""][:2])
        if weight is None or weight.data_type != other:
            continue
        if zero_point is None or (zero_point.data_type != other and zero_point.name not in moved):
            left.add(weight.name)
            continue
        for tensor in (weight, zero_point):
            if tensor.name not in moved:
                shifted = numpy_helper.to_array(tensor).astype(np.int16) + (-128 if signed else 128)
                tensor.CopyFrom(numpy_helper.from_array(shifted.astype(dtype), tensor.name))
                moved.add(tensor.name)
        weights.add(weight.name)
    return len(weights), len(left)


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


def int8_model(path):
    """The int8 graph at `path`, its weights as int8 where ONNX Runtime's uint8 x int8 product is exact on this
    CPU (faster), else as uint8 (exact everywhere); int8 exports before uint8 weights are moved too. A str path
    where nothing moved, else the serialised graph."""
    import onnx

    model = onnx.load(str(path))
    signed = not u8s8_saturates()
    moved, left = weights_as(model, signed)
    if left and not signed:
        raise CheckpointError(
            f"{path}: {left} int8 weights without a zero point give wrong logits on this CPU, where ONNX Runtime's"
            " uint8 x int8 products saturate (x86 without VNNI); export it again with --int8"
        )
    return model.SerializeToString() if moved else str(path)


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
        precision = config.get("precision", "float32")
        try:
            model = str(path) if precision != "int8" else int8_model(path)
            self.session = ort.InferenceSession(model, options, providers=list(providers))
        except CheckpointError:
            raise
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
        self.precision = precision
        self.data_set = config.get("data_set")

    def __call__(self, x):
        if x.ndim != 5 or tuple(x.shape[1:]) != self.input_shape:
            expected = "(B, " + ", ".join(map(str, self.input_shape)) + ")"
            raise ValueError(f"expected a clip of shape {expected}, got {tuple(x.shape)}")
        video = x.detach().to("cpu", torch.float32).contiguous().numpy()
        (logits,) = self.session.run([OUTPUT], {INPUT: video})
        return torch.from_numpy(logits)
