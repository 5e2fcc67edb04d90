"""One training epoch, shared by pretraining and fine-tuning.

The entry script supplies `compute_loss(model, batch) -> (loss, {name: 0-dim tensor})`; this loop steps a
`TrainState` (what a checkpoint holds: model, optimizer, scaler, EMA, ...) and owns the schedules, mixed
precision, gradient accumulation, clipping, EMA and the non-finite-loss stop.
The loop makes the host wait for the device once per optimizer update: the non-finite check and the logged
values are read together, after the backward pass and before the weights change.
Main-process randomness (dropout, drop path, mixup) is reseeded before every batch from (seed, epoch, batch, rank),
so a run resumed in the middle of an epoch from `state.progress` (a mid-epoch checkpoint, written through
`save_progress` every `save_every_steps` optimizer steps) continues exactly as the uninterrupted run.
"""

import argparse
import contextlib
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from .data import seed_everything
from .distributed import all_reduce_mean, all_reduce_sum, rank
from .optim import set_step_values


class NonFiniteLossError(RuntimeError):
    pass


@dataclass
class StepSettings:
    device: torch.device
    amp_dtype: torch.dtype | None = None  # torch.float16 (with a GradScaler) or torch.bfloat16; None = fp32
    update_freq: int = 1
    clip_grad: float | None = None
    seed: int = 0
    save_every_steps: int = 0  # a mid-epoch checkpoint every N optimizer steps (0: at epoch ends only)


@dataclass
class EpochProgress:
    """How far an epoch got: the batches trained on and the sums of their logged values (so a resumed epoch still
    logs the whole epoch's means). A mid-epoch checkpoint holds it as a dict (`vars`)."""

    epoch: int
    batches: int = 0
    totals: dict = field(default_factory=dict)  # name -> 0-dim tensor
    count: int = 0


@dataclass
class TrainState:
    """What a training checkpoint holds (engine.checkpoint writes and restores it whole)."""

    model: torch.nn.Module  # unwrapped: its state-dict keys are the checkpoint's
    optimizer: torch.optim.Optimizer | None = None
    scaler: torch.amp.GradScaler | None = None
    model_ema: torch.nn.Module | None = None
    args: argparse.Namespace | None = None
    best: dict | None = None  # fine-tuning: {"epoch", "score"} of checkpoint-best.pth
    progress: EpochProgress | None = None  # how far the epoch to resume got


def batch_seed(seed, epoch, batch):
    return int(np.random.SeedSequence([seed, epoch, batch, rank()]).generate_state(1)[0])


def autocast(device, amp_dtype):
    if amp_dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=amp_dtype)


def train_one_epoch(model, loader, state, schedules, epoch, compute_loss, settings, logger, save_progress=None):
    """Train `model` (state.model, or its DDP wrapper) for one epoch; `schedules` = (lr per step, weight decay per
    step). Returns epoch means. state.progress resumes the epoch after its first progress.batches batches (the
    loader skips them, engine.data.start_epoch); `save_progress(EpochProgress)` writes a mid-epoch checkpoint every
    settings.save_every_steps steps."""
    model.train()
    optimizer, scaler, model_ema = state.optimizer, state.scaler, state.model_ema
    lr_schedule, wd_schedule = schedules
    progress = state.progress or EpochProgress(epoch)
    steps_per_epoch = (progress.batches + len(loader)) // settings.update_freq
    totals, count, start = dict(progress.totals), progress.count, time.time()
    totals = {name: value.to(settings.device) for name, value in totals.items()}
    non_finite = torch.zeros((), device=settings.device)  # non-finite losses since the last update
    optimizer.zero_grad(set_to_none=True)
    batches = logger.progress(loader, f"epoch {epoch}", total=len(loader))
    for i, batch in enumerate(batches, start=progress.batches):
        update = (i + 1) % settings.update_freq == 0
        if i // settings.update_freq >= steps_per_epoch:
            break  # drop an incomplete accumulation at the end of the epoch
        step = epoch * steps_per_epoch + i // settings.update_freq
        if i % settings.update_freq == 0:
            set_step_values(optimizer, lr_schedule[step], wd_schedule[step])

        batch = [b.to(settings.device, non_blocking=True) if torch.is_tensor(b) else b for b in batch]
        seed_everything(batch_seed(settings.seed, epoch, i))
        sync = contextlib.nullcontext() if update or not hasattr(model, "no_sync") else model.no_sync()
        with sync:
            with autocast(settings.device, settings.amp_dtype):
                loss, metrics = compute_loss(model, batch)
            non_finite += ~torch.isfinite(loss.detach())
            scaler.scale(loss / settings.update_freq).backward()
        values = {"loss": loss, **metrics}
        for name, value in values.items():
            totals[name] = totals.get(name, 0.0) + value.detach().float()
        count += 1

        if update:
            scaler.unscale_(optimizer)
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), settings.clip_grad or float("inf"))
            bad, norm, *logged = torch.stack(
                [all_reduce_sum(non_finite), grad_norm.float(), *(v.detach().float() for v in values.values())]
            ).tolist()  # the one host sync of the step
            if bad > 0:
                raise NonFiniteLossError(f"loss is not finite (last {logged[0]}) at epoch {epoch}, step {step}")
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            non_finite.zero_()
            if model_ema is not None:
                model_ema.update(model)
            logger.scalars(
                step,
                "opt",
                {
                    "lr": max(g["lr"] for g in optimizer.param_groups),
                    "min_lr": min(g["lr"] for g in optimizer.param_groups),
                    "weight_decay": max(g["weight_decay"] for g in optimizer.param_groups),
                    "grad_norm": norm,
                    "loss_scale": scaler.get_scale() if scaler.is_enabled() else 1.0,
                },
            )
            logger.scalars(step, "loss", dict(zip(values, logged, strict=True)))
            done = step - epoch * steps_per_epoch + 1
            if save_progress and settings.save_every_steps and done % settings.save_every_steps == 0:
                if done < steps_per_epoch:  # the epoch's own checkpoint follows its last step
                    save_progress(EpochProgress(epoch, i + 1, {k: v.cpu() for k, v in totals.items()}, count))

    means = {name: all_reduce_mean(float(value) / max(count, 1)) for name, value in totals.items()}
    means["lr"] = max(g["lr"] for g in optimizer.param_groups)
    means["epoch_time_s"] = time.time() - start
    return means
