"""Loading upstream-layout checkpoints: key mapping, reports, refusals, safe unpickling."""

import argparse
import json
from pathlib import Path

import pytest
import torch

from models import CheckpointError, from_upstream_config, load_weights, read_checkpoint

FIXTURES = Path(__file__).parent / "fixtures"
CASE = json.loads((FIXTURES / "case_p16.json").read_text())["case_p16"]


def pretrain_state():
    return torch.load(FIXTURES / "case_p16_pretrain_state_dict.pt", weights_only=True)


def finetune_state():
    return torch.load(FIXTURES / "case_p16_finetune_state_dict.pt", weights_only=True)


def upstream_file(path, state_dict, wrap="model"):
    args = argparse.Namespace(model="pretrain_videomae_base_dim512_no_depth_patch16_160", lr=3e-4, input_size=160)
    payload = {wrap: state_dict, "optimizer": {}, "epoch": 49, "scaler": {}, "args": args}
    torch.save(payload if wrap else state_dict, path)
    return path


def finetune_model(**overrides):
    return from_upstream_config({**CASE["finetune_constructor"], **overrides})


@pytest.mark.parametrize("wrap", ["model", "module", None])
def test_pretrain_checkpoint_maps_into_the_classifier_like_upstream(tmp_path, wrap):
    path = upstream_file(tmp_path / "checkpoint-49.pth", pretrain_state(), wrap)
    model = finetune_model()
    report = load_weights(model, path)
    expected = CASE["finetune_init_from_pretrain"]
    assert report.missing == expected["missing_keys"]
    assert sorted(report.unexpected) == sorted(expected["unexpected_keys"])
    reference = finetune_state()
    for key, value in model.state_dict().items():
        if not key.startswith(("fc_norm", "head")):
            assert torch.equal(value, reference[key]), key
    assert "decoder.* (" in str(report)


def test_head_with_another_class_count_is_dropped_and_reported(tmp_path):
    path = upstream_file(tmp_path / "dfew.pth", finetune_state())
    model = finetune_model(num_classes=11)
    report = load_weights(model, path)
    assert report.missing == ["head.weight", "head.bias"]
    assert report.dropped == ["head.weight (7, 64)", "head.bias (7,)"]


def test_other_shape_mismatch_is_refused(tmp_path):
    path = upstream_file(tmp_path / "wide.pth", finetune_state())
    model = finetune_model(embed_dim=128)
    with pytest.raises(CheckpointError, match="wide.pth: shapes differ") as err:
        load_weights(model, path)
    assert "\n" not in str(err.value)


def test_arbitrary_pickles_are_not_executed(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"model": finetune_state(), "args": Path("x")}, path)
    with pytest.raises(CheckpointError, match="evil.pth: cannot read checkpoint"):
        read_checkpoint(path)


def test_missing_and_corrupt_files_get_one_line(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        read_checkpoint(tmp_path / "nope.pth")
    bad = tmp_path / "truncated.pth"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CheckpointError, match=r"truncated.pth: not a PyTorch checkpoint \(truncated zip archive\)"):
        read_checkpoint(bad)


def test_classifier_rebuilds_from_an_upstream_release(tmp_path):
    from models import create_model
    from models.checkpoint import classifier_from_checkpoint

    released = create_model("vit_base_dim512_no_depth_patch16_160", depth=1, num_classes=11).eval()
    args = argparse.Namespace(
        model="vit_base_dim512_no_depth_patch16_160",
        nb_classes=11,
        depth=1,
        input_size=160,
        num_frames=16,
        num_segments=1,
        tubelet_size=2,
        attn_type="local_global",
        lg_region_size=[2, 5, 10],
        lg_classify_token_type="region",
    )
    path = tmp_path / "checkpoint-99.pth"
    torch.save({"model": released.state_dict(), "args": args, "epoch": 99}, path)
    model, _ = classifier_from_checkpoint(path)
    x = torch.randn(1, 3, 16, 160, 160)
    with torch.no_grad():
        assert torch.equal(model(x), released(x))
    args.depth = 2
    torch.save({"model": released.state_dict(), "args": args}, path)
    with pytest.raises(CheckpointError, match="does not fit"):
        classifier_from_checkpoint(path)


@pytest.mark.parametrize("zip_format", [True, False])  # the zip format is memory-mapped, the legacy one read
def test_classifier_rebuilds_from_a_bare_state_dict(tmp_path, zip_format):
    from models.checkpoint import classifier_from_checkpoint

    path = tmp_path / "bare.pth"
    torch.save(finetune_state(), path, _use_new_zipfile_serialization=zip_format)  # 64-d, 2 blocks, a 64-d head
    model, _ = classifier_from_checkpoint(path)
    assert model.embed_dim == 64 and len(model.blocks) == 2 and model.num_classes == 7
    assert torch.equal(model.head.weight, finetune_state()["head.weight"])
