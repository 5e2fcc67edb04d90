"""safetensors export: round trips give the source's logits (ours and upstream-format files), loading runs no
pickle, and a wrong config or shape is refused in one line naming the file."""

import argparse
import json
import pickle
from pathlib import Path

import pytest
import torch

from engine.checkpoint import resume_training, save_checkpoint
from engine.export import export
from engine.train import TrainState
from models import CheckpointError, create_model, from_upstream_config, load_weights, read_checkpoint
from models.checkpoint import classifier_from_checkpoint

FIXTURES = Path(__file__).parent / "fixtures"
CASE = json.loads((FIXTURES / "case_p16.json").read_text())["case_p16"]
TINY = "lgi_former_tiny_patch16_64"
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1, 1)


def tiny_checkpoint(path, **args):
    torch.manual_seed(0)
    model = create_model(TINY, num_classes=7, init_scale=1.0).eval()
    run_args = argparse.Namespace(model=TINY, data_set="synthetic", sampling_rate=2, **args)
    save_checkpoint(path, model, 4, torch.optim.AdamW(model.parameters()), args=run_args)
    return model


def reference_checkpoint(path):
    """The reference case (upstream weights, built from the upstream constructor) as a checkpoint file."""
    model = from_upstream_config(CASE["finetune_constructor"]).eval()
    model.load_state_dict(torch.load(FIXTURES / "case_p16_finetune_state_dict.pt", weights_only=True))
    save_checkpoint(path, model, 99)
    return model


def bare_upstream_state_dict(path):
    """An upstream fine-tuned model's bare state dict (upstream names; sizes only from the tensors)."""
    torch.manual_seed(0)
    model = create_model("vit_base_dim512_no_depth_patch16_160", depth=1, num_classes=7, init_scale=1.0).eval()
    torch.save(model.state_dict(), path)
    return model


def one_line_error(call, *names):
    with pytest.raises(CheckpointError) as err:
        call()
    message = str(err.value)
    assert "\n" not in message
    for name in names:
        assert name in message
    return message


@torch.no_grad()
def test_our_checkpoint_round_trips_with_its_config(tmp_path):
    source = tiny_checkpoint(tmp_path / "checkpoint-4.pth")
    path = export(tmp_path / "checkpoint-4.pth", tmp_path / "out" / "model.safetensors")
    config = json.loads((tmp_path / "out" / "model.json").read_text())
    assert config["kind"] == "classifier" and config["model"]["name"] == TINY
    assert config["class_names"][0] == "happy" and config["data_set"] == "synthetic"
    assert (config["sampling_rate"], config["num_frames"], config["input_size"], config["epoch"]) == (2, 16, 64, 4)
    model, checkpoint = classifier_from_checkpoint(path)
    x = torch.randn(2, 3, 16, 64, 64)
    assert torch.equal(model(x), source(x))
    assert checkpoint["args"].sampling_rate == 2 and checkpoint["class_names"] == config["class_names"]
    again = export(path, tmp_path / "again.safetensors")  # a safetensors file is a valid source too
    assert json.loads(again.with_suffix(".json").read_text()) == config


@torch.no_grad()
def test_reference_case_round_trips_to_the_upstream_logits(tmp_path):
    reference = reference_checkpoint(tmp_path / "reference.pth")
    path = export(tmp_path / "reference.pth", tmp_path / "reference.safetensors")
    model, _ = classifier_from_checkpoint(path)
    tensors = torch.load(FIXTURES / "case_p16_tensors.pt", weights_only=True)
    x = (tensors["video_uint8"].float() / 255.0 - MEAN) / STD
    assert (model(x) - tensors["finetune_logits_region"]).abs().max() < 1e-5
    assert torch.equal(model(x), reference(x))
    assert model.state_dict().keys() == reference.state_dict().keys()


@torch.no_grad()
def test_bare_upstream_state_dict_round_trips(tmp_path):
    source = bare_upstream_state_dict(tmp_path / "bare.pth")
    path = export(tmp_path / "bare.pth", tmp_path / "bare.safetensors")
    x = torch.randn(1, 3, 16, 160, 160)
    assert torch.equal(classifier_from_checkpoint(path)[0](x), source(x))
    path.with_suffix(".json").unlink()  # without its config it reads as a bare state dict, like a bare .pth
    assert torch.equal(classifier_from_checkpoint(path)[0](x), source(x))


@torch.no_grad()
def test_upstream_release_with_its_args_keeps_the_dataset_labels(tmp_path):
    released = create_model("vit_base_dim512_no_depth_patch16_160", depth=1, num_classes=11).eval()
    args = argparse.Namespace(
        model="vit_base_dim512_no_depth_patch16_160", nb_classes=11, depth=1, data_set="MAFW", sampling_rate=4
    )
    torch.save({"model": released.state_dict(), "args": args, "epoch": "best"}, tmp_path / "mafw.pth")
    path = export(tmp_path / "mafw.pth", tmp_path / "mafw.safetensors")
    config = json.loads(path.with_suffix(".json").read_text())
    assert config["model"]["name"] == "vit_base_dim512_no_depth_patch16_160" and config["model"]["depth"] == 1
    assert len(config["class_names"]) == 11 and config["data_set"] == "mafw" and config["epoch"] == "best"
    model, _ = classifier_from_checkpoint(path)
    x = torch.randn(1, 3, 16, 160, 160)
    assert torch.equal(model(x), released(x))


def test_pretraining_checkpoint_exports_and_initialises_fine_tuning_alike(tmp_path):
    state = torch.load(FIXTURES / "case_p16_pretrain_state_dict.pt", weights_only=True)
    torch.save({"model": state, "epoch": 49, "args": argparse.Namespace(model="x", num_frames=16)}, tmp_path / "p.pth")
    path = export(tmp_path / "p.pth", tmp_path / "pretrain.safetensors")
    config = json.loads(path.with_suffix(".json").read_text())
    assert config["kind"] == "pretrain" and config["model"] is None and config["num_frames"] == 16
    from_pth, from_st = (from_upstream_config(CASE["finetune_constructor"]) for _ in range(2))
    report_pth, report_st = load_weights(from_pth, tmp_path / "p.pth"), load_weights(from_st, path)
    assert report_st.missing == report_pth.missing
    assert sorted(report_st.unexpected) == sorted(report_pth.unexpected)
    for key, value in from_pth.state_dict().items():
        if not key.startswith(("fc_norm", "head")):
            assert torch.equal(value, from_st.state_dict()[key]), key
    one_line_error(lambda: classifier_from_checkpoint(path), "pretrain.safetensors", "pretraining")


def test_loading_runs_no_pickle(tmp_path, monkeypatch):
    tiny_checkpoint(tmp_path / "c.pth")
    path = export(tmp_path / "c.pth", tmp_path / "model.safetensors")

    def refuse(*args, **kwargs):
        raise AssertionError("pickle used")

    for module, name in ((torch, "load"), (pickle, "load"), (pickle, "loads"), (pickle, "Unpickler")):
        monkeypatch.setattr(module, name, refuse)
    model, _ = classifier_from_checkpoint(path)
    assert model.num_classes == 7


def test_resume_and_finetune_take_a_safetensors_file(tmp_path):
    source = tiny_checkpoint(tmp_path / "c.pth")
    path = export(tmp_path / "c.pth", tmp_path / "model.safetensors")
    model = create_model(TINY, num_classes=7)
    start, _ = resume_training(str(path), None, False, TrainState(model))
    assert start == 5
    assert all(torch.equal(v, source.state_dict()[k]) for k, v in model.state_dict().items())
    other = create_model(TINY, num_classes=3)
    report = load_weights(other, path)  # --finetune onto another class count: the head is dropped
    assert report.missing == ["head.weight", "head.bias"]


def edit_config(path, **changes):
    config_file = Path(path).with_suffix(".json")
    config = json.loads(config_file.read_text())
    for key, value in changes.items():
        if isinstance(value, dict):
            config[key].update(value)
        else:
            config[key] = value
    config_file.write_text(json.dumps(config))


@pytest.mark.parametrize(
    "changes, expected",
    [
        (dict(model={"embed_dim": 96, "num_heads": 4}), "model.safetensors: shapes differ"),
        (dict(model={"num_classes": 5}), "model.safetensors: does not fit"),
        (dict(model={"name": "lgi_former_huge"}), "model.safetensors: cannot build"),
        (dict(model={"region_size": [3, 3, 3]}), "model.safetensors: cannot build"),
        (dict(num_classes=5, class_names=list("abcde")), "model.safetensors: states 5 classes"),
        (dict(class_names=list("abc")), "model.json: 3 class_names for 7 classes"),
        (dict(sampling_rate="fast"), "model.json: 'sampling_rate' must be int"),
        (dict(kind="pretrain"), "model.safetensors: its config says 'pretrain'"),
        (dict(model={"name": None}), "model.json: 'model' needs a 'name'"),
    ],
)
def test_wrong_config_or_shape_is_one_line_naming_the_file(tmp_path, changes, expected):
    tiny_checkpoint(tmp_path / "c.pth")
    path = export(tmp_path / "c.pth", tmp_path / "model.safetensors")
    edit_config(path, **changes)
    one_line_error(lambda: classifier_from_checkpoint(path), expected)


def test_unreadable_files_are_one_line(tmp_path):
    tiny_checkpoint(tmp_path / "c.pth")
    path = export(tmp_path / "c.pth", tmp_path / "model.safetensors")
    path.with_suffix(".json").write_text("{not json")
    one_line_error(lambda: read_checkpoint(path), "model.json: not a valid JSON config")
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{broken")
    one_line_error(lambda: read_checkpoint(path), "model.safetensors: cannot read safetensors file")
    one_line_error(
        lambda: read_checkpoint(tmp_path / "none.safetensors"), "none.safetensors: checkpoint file not found"
    )
    with pytest.raises(ValueError, match="must end in"):
        export(tmp_path / "c.pth", tmp_path / "model.bin")
    with pytest.raises(ValueError, match="--int8 applies to ONNX"):
        export(tmp_path / "c.pth", tmp_path / "m.safetensors", int8=True)
