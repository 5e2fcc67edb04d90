"""ONNX export: ONNX Runtime gives PyTorch's logits within 1e-4 (the reference case, random inputs, any batch
size, upstream-format files), int8 agrees approximately, and bad files or inputs are refused in one line."""

import argparse
import json
from pathlib import Path

import onnx
import pytest
import torch

from engine.checkpoint import save_checkpoint
from engine.export import export
from models import CheckpointError, create_model, from_upstream_config, read_checkpoint
from models.onnx_export import OnnxClassifier

FIXTURES = Path(__file__).parent / "fixtures"
CASE = json.loads((FIXTURES / "case_p16.json").read_text())["case_p16"]
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1, 1)
TOL = 1e-4


def max_diff(a, b):
    assert a.shape == b.shape
    return (a - b).abs().max().item()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The reference case (upstream weights) saved with a DFEW run's args, exported float32 and int8."""
    folder = tmp_path_factory.mktemp("onnx")
    model = from_upstream_config(CASE["finetune_constructor"]).eval()
    model.load_state_dict(torch.load(FIXTURES / "case_p16_finetune_state_dict.pt", weights_only=True))
    save_checkpoint(folder / "reference.pth", model, 99, args=argparse.Namespace(data_set="DFEW", sampling_rate=4))
    tensors = torch.load(FIXTURES / "case_p16_tensors.pt", weights_only=True)
    return dict(
        model=model,
        x=(tensors["video_uint8"].float() / 255.0 - MEAN) / STD,
        logits=tensors["finetune_logits_region"],
        fp32=export(folder / "reference.pth", folder / "reference.onnx"),
        int8=export(folder / "reference.pth", folder / "reference_int8.onnx", int8=True),
    )


@torch.no_grad()
def test_reference_case_matches_upstream_and_pytorch_within_1e4(reference):
    classifier = OnnxClassifier(reference["fp32"], threads=1)
    logits = classifier(reference["x"])
    assert max_diff(logits, reference["logits"]) < TOL
    assert max_diff(logits, reference["model"](reference["x"])) < TOL


@pytest.mark.parametrize("batch", [1, 3])
@torch.no_grad()
def test_random_inputs_of_any_batch_size_match_pytorch(reference, batch):
    classifier = OnnxClassifier(reference["fp32"], threads=1)
    x = torch.randn(batch, 3, 16, 160, 160, generator=torch.Generator().manual_seed(batch))
    assert max_diff(classifier(x), reference["model"](x)) < TOL


def test_the_config_is_exposed_as_attributes(reference):
    classifier = OnnxClassifier(reference["fp32"])
    assert classifier.num_classes == 7 and classifier.class_names[:2] == ["happy", "sad"]
    assert (classifier.sampling_rate, classifier.num_frames, classifier.input_size) == (4, 16, 160)
    assert classifier.input_shape == (3, 16, 160, 160) and classifier.precision == "float32"
    assert classifier.config["model"] == {"upstream": CASE["finetune_constructor"]}


@torch.no_grad()
def test_int8_quantises_the_linear_layers_and_agrees_approximately(reference):
    graph = onnx.load(str(reference["int8"])).graph
    linears = [m for m in reference["model"].modules() if isinstance(m, torch.nn.Linear)]
    int8_weights = [t for t in graph.initializer if t.data_type == onnx.TensorProto.INT8 and len(t.dims) == 2]
    assert len(int8_weights) == len(linears)
    assert {"DynamicQuantizeMatMul", "MatMulInteger"} & {node.op_type for node in graph.node}
    classifier = OnnxClassifier(reference["int8"], threads=1)
    assert classifier.precision == "int8"
    x = torch.cat([reference["x"], torch.randn(3, 3, 16, 160, 160, generator=torch.Generator().manual_seed(0))])
    expected = reference["model"](x)
    logits = classifier(x)
    assert max_diff(logits, expected) < 0.05 * expected.abs().max().item()
    assert max_diff(logits.softmax(-1), expected.softmax(-1)) < 0.02
    assert not torch.equal(logits, OnnxClassifier(reference["fp32"])(x))  # really another computation


@torch.no_grad()
def test_upstream_release_and_safetensors_sources_export(tmp_path):
    released = create_model("vit_base_dim512_no_depth_patch16_160", depth=1, num_classes=11, init_scale=1.0).eval()
    args = argparse.Namespace(model="vit_base_dim512_no_depth_patch16_160", nb_classes=11, depth=1, data_set="MAFW")
    torch.save({"model": released.state_dict(), "args": args, "epoch": 9}, tmp_path / "release.pth")
    weights = export(tmp_path / "release.pth", tmp_path / "release.safetensors")
    classifier = OnnxClassifier(export(weights, tmp_path / "release.onnx"))
    x = torch.randn(2, 3, 16, 160, 160)
    assert max_diff(classifier(x), released(x)) < TOL
    assert len(classifier.class_names) == 11 and classifier.sampling_rate == 4  # MAFW's record


def test_bad_files_and_inputs_are_refused_in_one_line(reference, tmp_path):
    def refused(call, text):
        with pytest.raises((CheckpointError, ValueError)) as err:
            call()
        assert text in str(err.value) and "\n" not in str(err.value)

    refused(lambda: OnnxClassifier(tmp_path / "none.onnx"), "none.onnx: ONNX model file not found")
    (tmp_path / "broken.onnx").write_bytes(b"not a protobuf")
    refused(lambda: OnnxClassifier(tmp_path / "broken.onnx"), "broken.json: config file not found")
    (tmp_path / "broken.json").write_text(reference["fp32"].with_suffix(".json").read_text())
    refused(lambda: OnnxClassifier(tmp_path / "broken.onnx"), "broken.onnx: cannot load the ONNX model")
    refused(lambda: read_checkpoint(reference["fp32"]), "reference.onnx: an ONNX model runs in ONNX Runtime")
    refused(lambda: OnnxClassifier(reference["fp32"])(torch.zeros(1, 3, 8, 160, 160)), "expected a clip of shape")
    pretrain = from_upstream_config(CASE["pretrain_constructor"])
    save_checkpoint(tmp_path / "pretrain.pth", pretrain, 0)
    refused(lambda: export(tmp_path / "pretrain.pth", tmp_path / "p.onnx"), "pretrain.pth: is a pretraining")
