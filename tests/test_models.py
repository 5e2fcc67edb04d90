"""Behaviour of every registered model: shapes, finiteness, gradients, input checks, options."""

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from bench.common import part_window_masks
from datasets.masking import PartWindowMasking
from models import create_model, list_models, model_from_config


def small_kwargs(name):
    kwargs = {"depth": 1}
    if name.startswith("pretrain"):
        kwargs["decoder_depth"] = 1
        if "videomae_base" in name and "dim512" in name:
            kwargs = {"encoder_depth": 1, "decoder_depth": 1}
    elif "dim512" not in name and "vit" not in name:
        kwargs["pooling"] = "all"  # every parameter reaches the logits
    return kwargs


@pytest.mark.parametrize("name", list_models())
def test_every_model_runs_forward_and_backward(name):
    torch.manual_seed(0)
    model = create_model(name, **small_kwargs(name))
    embed = model.encoder.patch_embed if name.startswith("pretrain") else model.patch_embed
    x = torch.randn(2, *embed.input_shape)
    if name.startswith("pretrain"):
        region = getattr(model.encoder, "region_size", (2, 5, 10))
        masking = PartWindowMasking(embed.grid_size, 0.9, region[1:])
        mask = torch.from_numpy(np.stack([masking(), masking()]))
        out = model(x, mask)
        assert out.shape == (2, masking.num_masked, 3 * 2 * embed.patch_size**2)
        loss, _ = model.forward_loss(x, mask)
    else:
        if hasattr(model, "pooling"):
            model.pooling = "all"
        out = model(x)
        assert out.shape == (2, 7)
        loss = out.square().sum()
    assert torch.isfinite(out).all()
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, missing


def test_region_pooling_gives_every_parameter_a_gradient_so_ddp_needs_no_unused_search():
    model = create_model("lgi_former_tiny_patch16_160")
    model(torch.randn(1, 3, 16, 160, 160)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    last = model.blocks[-1].third_attn  # its output only reaches local tokens, which region pooling ignores
    assert all(not p.grad.any() for p in last.parameters())


@pytest.mark.parametrize("shape", [(1, 3, 8, 160, 160), (1, 3, 16, 128, 128), (3, 16, 160, 160)])
def test_wrong_clip_shape_is_a_clear_value_error(shape):
    model = create_model("lgi_former_tiny_patch16_160")
    with pytest.raises(ValueError, match=r"expected a clip of shape \(B, 3, 16, 160, 160\)"):
        model(torch.randn(*shape))


def test_mask_the_lgi_encoder_cannot_group_is_refused():
    model = create_model("pretrain_lgi_former_tiny_patch16_160")
    x = torch.randn(1, 3, 16, 160, 160)
    tube = torch.ones(1, 800, dtype=torch.bool)
    tube[0, torch.arange(0, 800, 10)] = False  # 80 visible, all in column 0: 10 per slice, unevenly split
    tube[0, :100] = True
    tube[0, 0:10] = False
    with pytest.raises(ValueError, match="unequal number of visible tokens"):
        model(x, tube)
    uneven = part_window_masks(2)
    uneven[1, :100] = True
    with pytest.raises(ValueError, match="same number of visible tokens"):
        model(torch.randn(2, 3, 16, 160, 160), uneven)


class HostSyncs(TorchDispatchMode):
    """Counts what makes a CUDA host wait for the device: reading values (`.item()`, `bool()`, `.tolist()`)
    and ops whose output shape depends on the data. `.tolist()` of a CPU tensor dispatches no op, so it is
    counted where it is called."""

    SYNCING = {torch.ops.aten._local_scalar_dense, torch.ops.aten.nonzero, torch.ops.aten.masked_select}

    def __init__(self, monkeypatch):
        super().__init__()
        self.count = 0
        tolist = torch.Tensor.tolist

        def counted_tolist(tensor):
            self.count += 1
            return tolist(tensor)

        monkeypatch.setattr(torch.Tensor, "tolist", counted_tolist)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += func.overloadpacket in self.SYNCING
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("name", ["pretrain_lgi_former_tiny_patch16_160", "pretrain_videomae_base_patch16_160"])
def test_pretraining_step_waits_for_the_device_once(name, monkeypatch):
    """The mask checks share one host sync; the gathers of visible, masked and target tokens need none."""
    model = create_model(name, **small_kwargs(name))
    x, mask = torch.randn(2, 3, 16, 160, 160), part_window_masks(2)
    with HostSyncs(monkeypatch) as syncs:
        loss, _ = model.forward_loss(x, mask)
        loss.backward()
    assert syncs.count == 1


def test_classifier_step_never_waits_for_the_device(monkeypatch):
    model = create_model("lgi_former_tiny_patch16_160", depth=1)
    with HostSyncs(monkeypatch) as syncs:
        model(torch.randn(1, 3, 16, 160, 160)).sum().backward()
    assert syncs.count == 0


def test_region_grid_must_divide():
    with pytest.raises(ValueError, match="not divisible by region size"):
        create_model("lgi_former_tiny_patch16_160", region_size=(2, 3, 10))


def test_other_region_sizes_partition_the_grid():
    model = create_model("lgi_former_tiny_patch16_160", region_size=(2, 5, 5))
    assert model.num_regions == 16
    assert model(torch.randn(1, 3, 16, 160, 160)).shape == (1, 7)


def test_gradient_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    plain = create_model("lgi_former_tiny_patch16_160", pooling="all").train()
    ckpt = create_model("lgi_former_tiny_patch16_160", pooling="all", grad_checkpointing=True).train()
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(1, 3, 16, 160, 160)
    plain(x).sum().backward()
    ckpt(x).sum().backward()
    for (name, a), (_, b) in zip(plain.named_parameters(), ckpt.named_parameters(), strict=True):
        assert torch.allclose(a.grad, b.grad, atol=1e-6), name


def test_model_rebuilds_from_its_recorded_config():
    model = create_model("lgi_former_tiny_patch16_160", num_classes=5, pooling="org")
    clone = model_from_config(model.model_config)
    clone.load_state_dict(model.state_dict())
    x = torch.randn(1, 3, 16, 160, 160)
    with torch.no_grad():
        assert torch.equal(model.eval()(x), clone.eval()(x))


def test_unsupported_upstream_options_are_refused():
    with pytest.raises(ValueError, match="lg_no_second"):
        create_model("vit_base_dim512_no_depth_patch16_160", lg_no_second=True)
    with pytest.raises(ValueError, match="unknown model"):
        create_model("no_such_model")


def test_upstream_joint_attention_builds_a_vit():
    model = create_model("vit_base_dim512_no_depth_patch16_160", attn_type="joint", depth=1)
    assert type(model).__name__ == "VisionTransformerClassifier"
    assert model.embed_dim == 512
