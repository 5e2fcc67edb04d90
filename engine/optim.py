"""AdamW parameter groups with layer-wise lr decay, and per-step cosine schedules with linear warmup."""

import math

import numpy as np
import torch


def layer_id(name, num_layers):
    """Upstream grouping: patch embedding (and positions, mask token) at 0, block k at k + 1,
    everything else (region tokens, fc_norm, head) at the top, num_layers - 1."""
    if name in ("cls_token", "mask_token", "pos_embed") or name.startswith("patch_embed"):
        return 0
    if name.startswith("blocks."):
        return int(name.split(".")[1]) + 1
    return num_layers - 1


def param_groups(model, weight_decay, no_decay_names=(), layer_decay=1.0):
    """Groups keyed by (layer, decay). No weight decay on 1-D tensors, biases and `no_decay_names`.

    Each group carries `lr_scale` = layer_decay ** (num_layers - 1 - layer) with num_layers = depth + 2.
    """
    num_layers = len(getattr(model, "blocks", ())) + 2
    groups = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        decay = not (param.ndim == 1 or name.endswith(".bias") or name in no_decay_names)
        layer = layer_id(name, num_layers) if layer_decay != 1.0 else num_layers - 1
        key = (layer, decay)
        if key not in groups:
            groups[key] = {
                "params": [],
                "names": [],
                "weight_decay": weight_decay if decay else 0.0,
                "lr_scale": layer_decay ** (num_layers - 1 - layer),
            }
        groups[key]["params"].append(param)
        groups[key]["names"].append(name)
    return [groups[k] for k in sorted(groups)]


def build_optimizer(groups, lr, betas=(0.9, 0.999), eps=1e-8):
    """AdamW over param_groups' groups; the fused kernel (one pass over all parameters) on CPU and CUDA."""
    optimizer_groups = [{k: v for k, v in g.items() if k != "names"} for g in groups]
    fused = all(p.device.type in ("cpu", "cuda") for g in optimizer_groups for p in g["params"])
    return torch.optim.AdamW(optimizer_groups, lr=lr, betas=betas, eps=eps, fused=fused)


def cosine_schedule(base, final, epochs, steps_per_epoch, warmup_epochs=0, warmup_steps=-1, start_warmup=0.0):
    """One value per step: linear warmup from `start_warmup`, then cosine from base to final."""
    warmup = warmup_steps if warmup_steps > 0 else warmup_epochs * steps_per_epoch
    total = epochs * steps_per_epoch
    warmup = min(warmup, total)
    ramp = np.linspace(start_warmup, base, warmup)
    steps = np.arange(total - warmup)
    cosine = final + 0.5 * (base - final) * (1 + np.cos(math.pi * steps / max(len(steps), 1)))
    return np.concatenate([ramp, cosine])


def set_step_values(optimizer, lr, weight_decay=None):
    """Apply one step of the schedules: lr times each group's lr_scale; wd only where wd > 0."""
    for group in optimizer.param_groups:
        group["lr"] = float(lr) * group.get("lr_scale", 1.0)
        if weight_decay is not None and group["weight_decay"] > 0:
            group["weight_decay"] = float(weight_decay)


def build_schedules(lr, min_lr, epochs, steps_per_epoch, warmup_epochs, warmup_steps, warmup_lr, wd, wd_end=None):
    """(lr per step, weight decay per step): cosine lr after a linear warmup; wd cosine to wd_end (or constant)."""
    return (
        cosine_schedule(lr, min_lr, epochs, steps_per_epoch, warmup_epochs, warmup_steps, warmup_lr),
        cosine_schedule(wd, wd if wd_end is None else wd_end, epochs, steps_per_epoch),
    )
