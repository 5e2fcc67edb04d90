"""One training run, for both entry points: the flags they share, the run's start, the state, and `fit`.

    run = start_run(args)                             # device, precision, output folder, logger
    state = train_state(run, args, model, groups)     # model, AdamW, GradScaler, EMA, args
    fit(run, state, train_set, compute_loss, end_epoch)

`fit` reads top to bottom: resume (--resume, or the newest readable checkpoint of --output_dir), compile, DDP, the
loader and the schedules, then for every epoch: train (a mid-epoch checkpoint every --save_every_steps steps), the
caller's `end_epoch(epoch) -> (values to log, words for the printed line)` (validation and checkpoint-best.pth,
probes), the printed line, the log.txt line, checkpoint-N.pth. Killed anywhere, the run resumes after its newest
checkpoint, drops the log lines of later epochs and repeats them exactly, rewriting the same files.
`run_main` runs an entry point's main holding its output folder (system.lock) and turns a user's mistake into one
line and exit status 1.
"""

import argparse
import contextlib
import importlib.util
import os
import shutil
import sys
from pathlib import Path
from typing import NamedTuple

import torch

from datasets.annotations import AnnotationError
from datasets.video_dataset import DataLoadError
from models import CheckpointError
from system.lock import FolderHeldError, hold_folder
from system.memory import keep_freed_memory

from . import distributed as dist
from .checkpoint import resume_training, save_epoch_checkpoint, save_step_checkpoint
from .data import build_loader, seed_everything, start_epoch
from .logger import RunLogger
from .optim import build_optimizer, build_schedules
from .setup import default_workers, parse_amp, str2bool
from .train import NonFiniteLossError, StepSettings, TrainState, train_one_epoch

USER_ERRORS = (AnnotationError, CheckpointError, DataLoadError, FolderHeldError, NonFiniteLossError, ValueError)


def run_parser(description, **defaults):
    """The flags both entry points take, upstream's names, with the entry point's `defaults`; returns (parser,
    {group title: group}) for the entry point to add its own flags to."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    groups = {title: p.add_argument_group(title) for title in ("training", "model", "optimiser", "data", "run")}
    g = groups["training"]
    g.add_argument("--batch_size", type=int, default=64, help="batch per process")
    g.add_argument("--epochs", type=int)
    g.add_argument("--update_freq", type=int, default=1, help="gradient accumulation steps")
    g.add_argument(
        "--save_every_steps", type=int, default=0, help="also checkpoint every N steps inside an epoch (0: never)"
    )
    g.add_argument("--num_sample", type=int, default=1, help="views per decoded clip; a batch holds batch_size x N")
    g.add_argument("--save_ckpt_freq", type=int, help="keep checkpoint-N.pth every N epochs")
    g = groups["model"]
    g.add_argument("--model", help="a name from models.list_models()")
    g.add_argument("--input_size", type=int, default=160)
    g.add_argument("--drop_path", type=float, help="stochastic depth rate")
    g.add_argument("--use_checkpoint", action="store_true", help="gradient checkpointing in the encoder")
    g.add_argument("--compile", action="store_true", help="torch.compile the model (GPUs; see README, speed)")
    g.add_argument("--attn_type", default=None, choices=["local_global", "joint"], help="upstream model names only")
    g.add_argument("--lg_region_size", type=int, nargs=3, default=None, help="region size (t, h, w) in tokens")
    g = groups["optimiser"]
    g.add_argument("--opt_eps", type=float, default=1e-8)
    g.add_argument("--opt_betas", type=float, nargs=2)
    g.add_argument("--clip_grad", type=float, default=None, help="max grad norm (default: no clipping)")
    g.add_argument("--weight_decay", type=float, default=0.05)
    g.add_argument("--weight_decay_end", type=float, default=None, help="final weight decay (default: constant)")
    g.add_argument("--lr", type=float, help="base lr, scaled by total batch / 256")
    g.add_argument("--warmup_lr", type=float, default=0.0, help="warmup start (upstream parsed 1e-6 but used 0)")
    g.add_argument("--min_lr", type=float)
    g.add_argument("--warmup_epochs", type=int)
    g.add_argument("--warmup_steps", type=int, default=-1)
    g = groups["data"]
    g.add_argument("--data_root", default=None, help="resolve relative clip paths here (default: csv folder)")
    g.add_argument("--num_frames", type=int, default=16)
    g.add_argument("--sampling_rate", type=int, help="frames between sampled frames")
    g.add_argument("--num_workers", type=int, default=default_workers(), help="default: 4, at most the cores")
    g.add_argument("--pin_mem", type=str2bool, default=True)
    g.add_argument("--max_fail_fraction", type=float, default=0.05, help="stop when more clips fail to load")
    g = groups["run"]
    g.add_argument("--output_dir", default="", help="checkpoints, log.txt (and test results)")
    g.add_argument("--log_dir", default=None, help="tensorboard folder")
    g.add_argument("--device", default="cuda")
    g.add_argument("--amp", default="auto", choices=["auto", "fp16", "bf16", "none"], help="auto: fp16 on GPUs")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--resume", default="", help="resume from this checkpoint")
    g.add_argument("--auto_resume", action=argparse.BooleanOptionalAction, default=True)
    p.set_defaults(**defaults)
    return p, groups


class Run(NamedTuple):
    device: torch.device
    amp_dtype: torch.dtype | None
    output_dir: Path | None
    logger: RunLogger


def start_run(args):
    """What both entry points do first: the device (torch.distributed under torchrun), freed-memory reuse on
    CPU, the per-rank seed, the output folder and its logger."""
    device = dist.init_distributed(args.device)
    if device.type == "cpu":
        keep_freed_memory()  # reuse freed activations instead of page-faulting them in again each step
    seed_everything(args.seed + dist.rank())
    output_dir = Path(args.output_dir) if args.output_dir else None
    return Run(device, parse_amp(args.amp, device), output_dir, RunLogger(output_dir, args.log_dir))


def train_state(run, args, model, groups, model_ema=None):
    """The state `fit` trains: `model`, AdamW over its parameter `groups` (engine.optim.param_groups) at the
    scaled lr, a GradScaler (on for fp16), `model_ema` and the args a checkpoint keeps."""
    optimizer = build_optimizer(groups, scaled_lrs(args).lr, tuple(args.opt_betas), args.opt_eps)
    scaler = torch.amp.GradScaler(run.device.type, enabled=run.amp_dtype == torch.float16)
    return TrainState(model, optimizer, scaler, model_ema, args)


def build_ema(model, decay):
    from timm.utils import ModelEmaV3

    return ModelEmaV3(model, decay=decay)


def fit(run, state, train_set, compute_loss, end_epoch=None, verb="training"):
    """Train state.model on `train_set` from where the output folder's checkpoints left off to --epochs; returns
    the last epoch's training means (None when no epoch was left)."""
    args, output_dir = state.args, run.output_dir
    start, _ = resume_training(args.resume, output_dir, args.auto_resume, state)
    if args.compile:
        compile_in_place(state.model, run.device)
    ddp = dist.wrap_ddp(state.model, run.device)
    loader = build_loader(train_set, args.batch_size, True, args.num_workers, args.seed, args.pin_mem)
    rates = scaled_lrs(args)
    steps, schedules = plan_steps(args, loader, rates)
    settings = StepSettings(
        run.device, run.amp_dtype, args.update_freq, args.clip_grad, args.seed, args.save_every_steps
    )
    print(f"{verb} {args.model} on {len(train_set)} clips: {steps} steps/epoch, lr {rates.lr:.3g}, amp {run.amp_dtype}")
    run.logger.start_at(start)  # drops the log lines of the epochs this run repeats

    def save_progress(progress):
        if output_dir:
            save_step_checkpoint(output_dir, state, progress)

    stats = None
    for epoch in range(start, args.epochs):
        start_epoch(loader, epoch, args.seed, state.progress.batches if state.progress else 0)
        stats = train_one_epoch(ddp, loader, state, schedules, epoch, compute_loss, settings, run.logger, save_progress)
        state.progress = None
        values, note = end_epoch(epoch) if end_epoch else ({}, "")
        print(f"epoch {epoch}: {summary(stats)}{note}")
        run.logger.epoch({"epoch": epoch, **{f"train_{k}": v for k, v in stats.items()}, **values})
        if output_dir:  # last: a run killed before this repeats the epoch and rewrites the same files
            save_epoch_checkpoint(output_dir, epoch, args.save_ckpt_freq, state)
    return stats


def summary(stats):
    """'loss 0.9123 (appearance 0.8800, motion 0.0323), 12 s' from an epoch's training means."""
    others = ", ".join(f"{k} {v:.4f}" for k, v in stats.items() if k not in ("loss", "lr", "epoch_time_s"))
    return f"loss {stats['loss']:.4f}" + (f" ({others})" if others else "") + f", {stats['epoch_time_s']:.0f} s"


def compile_in_place(model, device):
    """`--compile`: torch.compile the model in place, so its state-dict keys, checkpoints and EMA stay those of
    the plain model; first checks for what inductor needs to build kernels (a C++ compiler, or Triton)."""
    if device.type == "cpu" and not (os.environ.get("CXX") or shutil.which("g++")):
        raise ValueError("--compile on CPU needs a C++ compiler (g++, or one named by $CXX); none was found")
    if device.type == "cuda" and importlib.util.find_spec("triton") is None:
        raise ValueError("--compile on a GPU needs the triton package, which this torch install lacks")
    model.compile()


class ScaledRates(NamedTuple):
    lr: float
    min_lr: float
    warmup_lr: float
    total_batch: int


def scaled_lrs(args):
    """The base rates scaled by total batch / 256 (upstream's rule), total batch = batch x views per clip
    (num_sample) x update_freq x ranks."""
    total_batch = args.batch_size * getattr(args, "num_sample", 1) * args.update_freq * dist.world_size()
    return ScaledRates(*(v * total_batch / 256 for v in (args.lr, args.min_lr, args.warmup_lr)), total_batch)


def plan_steps(args, loader, rates):
    """(optimizer steps per epoch, (lr, weight decay) per step); data smaller than one batch is an error."""
    lr, min_lr, warmup_lr, total_batch = rates
    steps = len(loader) // args.update_freq
    if steps == 0:
        raise ValueError(
            f"{args.data_path}: {len(loader.dataset)} training clips are fewer than one batch of {total_batch}"
        )
    lrs = dict(warmup_epochs=args.warmup_epochs, warmup_steps=args.warmup_steps, warmup_lr=warmup_lr)
    wds = dict(wd=args.weight_decay, wd_end=args.weight_decay_end)
    return steps, build_schedules(lr, min_lr, args.epochs, steps, **lrs, **wds)


def run_main(main, args):
    """Run an entry point's `main(args)` holding --output_dir (rank 0, system.lock); a user's mistake (a missing
    file, a folder another run holds, ...) ends in one line on stderr and exit status 1."""
    holder = args.output_dir and os.environ.get("RANK", "0") == "0"
    try:
        with hold_folder(args.output_dir) if holder else contextlib.nullcontext():
            main(args)
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
    finally:
        dist.cleanup()
