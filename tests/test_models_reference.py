"""Our models against the upstream MAE-DFER code: state-dict manifests, the small reference case, FLOPs.

TEST_DEVICE=cuda runs the reference case on a GPU (bench/gpu.sh does), in strict float32.
"""

import json
import os
from pathlib import Path

import pytest
import torch

from models import create_model, from_upstream_config, reconstruction_loss, reconstruction_targets
from models.flops import count_flops

FIXTURES = Path(__file__).parent / "fixtures"
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1, 1)
TOL = 1e-5
DEVICE = torch.device(os.environ.get("TEST_DEVICE", "cpu"))
if DEVICE.type == "cuda":
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def manifest(kind):
    return json.loads((FIXTURES / f"manifest_{kind}_base.json").read_text())


def shapes(model):
    return {k: list(v.shape) for k, v in model.state_dict().items()}


def n_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    "name, kind, params",
    [
        ("lgi_former_base_patch16_160", "finetune", 84_878_343),
        ("vit_base_dim512_no_depth_patch16_160", "finetune", 84_878_343),
        ("pretrain_lgi_former_base_patch16_160", "pretrain", 92_760_192),
        ("pretrain_videomae_base_dim512_no_depth_patch16_160", "pretrain", 92_760_192),
    ],
)
def test_base_state_dict_equals_upstream_manifest(name, kind, params):
    model = create_model(name)
    expected = manifest(kind)
    assert len(expected) == {"finetune": 519, "pretrain": 575}[kind]
    assert shapes(model) == expected
    assert n_params(model) == params


def test_parameter_counts_of_other_upstream_configurations():
    assert n_params(create_model("lgi_former_base_patch16_160", num_classes=11)) == 84_880_395
    assert n_params(create_model("vit_base_patch16_160")) == 86_232_583
    assert n_params(create_model("pretrain_videomae_base_patch16_160")) == 94_210_944


@pytest.fixture(scope="module")
def case():
    config = json.loads((FIXTURES / "case_p16.json").read_text())["case_p16"]
    tensors = torch.load(FIXTURES / "case_p16_tensors.pt", weights_only=True)
    pretrain = from_upstream_config(config["pretrain_constructor"]).eval()
    pretrain.load_state_dict(torch.load(FIXTURES / "case_p16_pretrain_state_dict.pt", weights_only=True))
    finetune = from_upstream_config(config["finetune_constructor"]).eval()
    finetune.load_state_dict(torch.load(FIXTURES / "case_p16_finetune_state_dict.pt", weights_only=True))
    x = (tensors["video_uint8"].float() / 255.0 - MEAN) / STD
    tensors = {k: v.to(DEVICE) for k, v in tensors.items()}
    return dict(
        config=config,
        t=tensors,
        pretrain=pretrain.to(DEVICE),
        finetune=finetune.to(DEVICE),
        x=x.to(DEVICE),
        mask=tensors["mask"],
    )


def max_diff(a, b):
    assert a.shape == b.shape
    return (a - b).abs().max().item()


@torch.no_grad()
def test_pretrain_encoder_matches_upstream(case):
    tokens, order = case["pretrain"].encoder(case["x"], case["mask"])
    assert max_diff(tokens, case["t"]["pretrain_encoder_out"]) < TOL
    assert torch.equal(order, case["t"]["encoder_output_raster_index"])


@torch.no_grad()
def test_pretrain_outputs_targets_and_loss_match_upstream(case):
    pred = case["pretrain"](case["x"], case["mask"])
    assert pred.shape == (1, 720, 1536)
    assert max_diff(pred, case["t"]["pretrain_outputs"]) < TOL
    target = reconstruction_targets(case["x"], case["mask"])
    assert max_diff(target, case["t"]["pretrain_labels"]) < TOL
    loss, parts = reconstruction_loss(pred, target)
    assert abs(loss.item() - case["t"]["pretrain_loss"].item()) < TOL
    assert abs(parts["appearance"].item() - case["t"]["pretrain_loss_appearance_half"].item()) < TOL
    assert abs(parts["motion"].item() - case["t"]["pretrain_loss_motion_half"].item()) < TOL
    weighted, _ = reconstruction_loss(pred, target, motion_weight=0.5)
    assert abs(weighted.item() - case["config"]["pretrain_loss_if_target_diff_weight_0.5"]) < TOL
    model_loss, _ = case["pretrain"].forward_loss(case["x"], case["mask"])
    assert abs(model_loss.item() - loss.item()) < 1e-6


@torch.no_grad()
def test_raster_decoder_order_is_the_documented_fix(case):
    model = case["pretrain"]
    model.decoder_pos_order = "raster"
    try:
        fixed = model(case["x"], case["mask"])
    finally:
        model.decoder_pos_order = "upstream"
    expected = case["config"]["decoder_pos_quirk_max_abs_diff_vs_raster_reordered"]
    assert abs(max_diff(fixed, case["t"]["pretrain_outputs"]) - expected) < 1e-4


@pytest.mark.parametrize("pooling", ["region", "org", "all"])
@torch.no_grad()
def test_finetune_logits_match_upstream(case, pooling):
    model = case["finetune"]
    model.pooling = pooling
    try:
        logits = model(case["x"])
    finally:
        model.pooling = "region"
    assert max_diff(logits, case["t"][f"finetune_logits_{pooling}"]) < TOL


@torch.no_grad()
def test_finetune_features_match_upstream(case):
    model = case["finetune"]
    tokens, _ = model.forward_features(case["x"])
    features = model.forward_head(tokens[:, :, 0].mean(1), pre_logits=True)
    assert max_diff(features, case["t"]["finetune_features_region"]) < TOL


@pytest.mark.parametrize(
    "name, gflops", [("lgi_former_base_patch16_160", 99.30), ("videomae_vit_base_patch16_160", 161.38)]
)
def test_forward_flops_match_the_paper(name, gflops):
    model = create_model(name).eval()
    total, per_op = count_flops(model, torch.randn(1, 3, 16, 160, 160))
    assert abs(total / 1e9 - gflops) / gflops < 0.01, per_op
