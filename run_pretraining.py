"""MAE-DFER pretraining: reconstruct appearance and motion of 90%-masked face videos.

    torchrun --nproc_per_node=N run_pretraining.py --model pretrain_lgi_former_base_patch16_160 \
        --data_path saved/data/voxceleb2/info_clean.csv --voxceleb2_crop --output_dir <dir>

Flags keep the upstream names and defaults. Checkpoints (checkpoint-N.pth, upstream layout) are written
after every epoch and the run resumes from the newest readable one.
"""

import argparse
import sys

import torch

from datasets.annotations import AnnotationError
from datasets.transforms import normalize
from datasets.video_dataset import DataLoadError, PretrainDataset
from engine import distributed as dist
from engine.checkpoint import resume_training, save_epoch_checkpoint, save_step_checkpoint
from engine.data import build_loader, start_epoch
from engine.optim import build_optimizer, param_groups
from engine.probe import PretrainingProbe
from engine.setup import compile_in_place, default_workers, plan_steps, scaled_lrs, start_run, str2bool
from engine.train import EpochProgress, NonFiniteLossError, StepSettings, train_one_epoch
from models import CheckpointError, create_model


def get_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("training")
    g.add_argument("--batch_size", type=int, default=64, help="batch per process")
    g.add_argument("--epochs", type=int, default=800)
    g.add_argument("--update_freq", type=int, default=1, help="gradient accumulation steps")
    g.add_argument(
        "--save_every_steps", type=int, default=0, help="also checkpoint every N steps inside an epoch (0: never)"
    )
    g.add_argument(
        "--num_sample", type=int, default=1, help="augmented views per decoded clip; a batch holds batch_size x N"
    )
    g.add_argument("--save_ckpt_freq", type=int, default=50, help="keep checkpoint-N.pth every N epochs")
    g = p.add_argument_group("model")
    g.add_argument("--model", default="pretrain_lgi_former_base_patch16_160")
    g.add_argument("--encoder_depth", type=int, default=None, help="override the preset encoder depth")
    g.add_argument("--decoder_depth", type=int, default=None, help="override the preset decoder depth")
    g.add_argument("--input_size", type=int, default=160)
    g.add_argument("--drop_path", type=float, default=0.0)
    g.add_argument("--use_checkpoint", action="store_true", help="gradient checkpointing in the encoder")
    g.add_argument("--compile", action="store_true", help="torch.compile the model (GPUs; see README, speed)")
    g.add_argument("--attn_type", default=None, choices=["local_global", "joint"], help="upstream model names only")
    g.add_argument("--lg_region_size", type=int, nargs=3, default=None, help="region size (t, h, w) in tokens")
    g.add_argument(
        "--decoder_pos_order",
        default="upstream",
        choices=["upstream", "raster"],
        help="'upstream' reproduces the released weights' mismatched decoder positions; 'raster' fixes it",
    )
    g = p.add_argument_group("masking and targets")
    g.add_argument("--mask_type", default="part_window", choices=["part_window", "tube", "random"])
    g.add_argument("--mask_ratio", type=float, default=0.9)
    g.add_argument("--part_win_size", type=int, nargs=3, default=(2, 5, 10), help="only (h, w) are used")
    g.add_argument("--normlize_target", type=str2bool, default=True, help="per-patch normalised targets")
    g.add_argument("--use_frame_diff_as_target", type=str2bool, default=True, help="motion (frame difference) target")
    g.add_argument("--target_diff_weight", type=float, default=None, help="motion weight w: (1-w) app + w motion")
    g = p.add_argument_group("optimiser")
    g.add_argument("--opt_eps", type=float, default=1e-8)
    g.add_argument("--opt_betas", type=float, nargs=2, default=(0.9, 0.95))
    g.add_argument("--clip_grad", type=float, default=None)
    g.add_argument("--weight_decay", type=float, default=0.05)
    g.add_argument("--weight_decay_end", type=float, default=None)
    g.add_argument(
        "--no_wd_region_tokens",
        action="store_true",
        help="exclude region tokens from weight decay (upstream decays them by a name-matching slip)",
    )
    g.add_argument("--lr", type=float, default=1.5e-4, help="base lr, scaled by total batch / 256")
    g.add_argument("--warmup_lr", type=float, default=0.0)
    g.add_argument("--min_lr", type=float, default=1e-5)
    g.add_argument("--warmup_epochs", type=int, default=40)
    g.add_argument("--warmup_steps", type=int, default=-1)
    g = p.add_argument_group("data")
    g.add_argument(
        "--data_path",
        required=True,
        help="annotation file of the unlabelled clips, or shards packed from one (a folder or an object-store URL)",
    )
    g.add_argument("--data_root", default=None, help="resolve relative clip paths here (default: csv folder)")
    g.add_argument("--num_frames", type=int, default=16)
    g.add_argument("--sampling_rate", type=int, default=4)
    g.add_argument(
        "--voxceleb2_crop", action="store_true", help="VoxCeleb2's fixed face crop (rows 0:160, cols 32:192)"
    )
    g.add_argument("--num_workers", type=int, default=default_workers(), help="default: 4, at most the cores")
    g.add_argument("--pin_mem", type=str2bool, default=True)
    g.add_argument("--max_fail_fraction", type=float, default=0.05, help="stop when more clips fail to load")
    g = p.add_argument_group("run")
    g.add_argument("--output_dir", default="", help="checkpoints and log.txt")
    g.add_argument("--log_dir", default=None, help="tensorboard folder")
    g.add_argument("--device", default="cuda")
    g.add_argument("--amp", default="auto", choices=["auto", "fp16", "bf16", "none"], help="auto: fp16 on GPUs")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--resume", default="")
    g.add_argument("--auto_resume", action=argparse.BooleanOptionalAction, default=True)
    g.add_argument("--probe_every", type=int, default=0, help="linear-probe the encoder every N epochs (0: never)")
    g.add_argument("--probe_data", default=None, help="split folder (train/val/test.csv) the probe uses")
    return p.parse_args(argv)


def build_model(args):
    kwargs = dict(
        img_size=args.input_size,
        num_frames=args.num_frames,
        drop_path_rate=args.drop_path,
        grad_checkpointing=args.use_checkpoint,
        decoder_pos_order=args.decoder_pos_order,
        normalize_target=args.normlize_target,
        frame_diff_target=args.use_frame_diff_as_target,
        motion_weight=args.target_diff_weight,
    )
    optional = {
        "depth": args.encoder_depth,
        "decoder_depth": args.decoder_depth,
        "attn_type": args.attn_type,
        "region_size": tuple(args.lg_region_size) if args.lg_region_size else None,
    }
    kwargs.update({k: v for k, v in optional.items() if v is not None})
    return create_model(args.model, **kwargs)


def pretrain_loss(model, batch):
    """Forward through the (possibly DDP-wrapped) model, then the model's own target and loss."""
    clips, mask = normalize(batch[0]), batch[1].flatten(1).bool()
    pred = model(clips, mask)
    loss, parts = dist.unwrap(model).loss(clips, mask, pred)
    return loss, parts


def main(args):
    device, amp_dtype, output_dir, logger = start_run(args)
    model = build_model(args).to(device)
    dataset = PretrainDataset(
        args.data_path,
        data_root=args.data_root,
        num_frames=args.num_frames,
        sampling_rate=args.sampling_rate,
        input_size=args.input_size,
        mask_type=args.mask_type,
        mask_ratio=args.mask_ratio,
        window_size=tuple(args.part_win_size[1:]),
        voxceleb2_crop=args.voxceleb2_crop,
        max_fail_fraction=args.max_fail_fraction,
        tubelet_size=model.tubelet_size,
        patch_size=model.patch_size,
        lgi_region_size=getattr(model.encoder, "region_size", None),  # refuse masks LGI cannot group, up front
        num_sample=args.num_sample,
    )
    rates = scaled_lrs(args)
    no_decay = model.no_weight_decay() if args.no_wd_region_tokens else {"mask_token"}
    optimizer = build_optimizer(
        param_groups(model, args.weight_decay, no_decay), rates.lr, tuple(args.opt_betas), args.opt_eps
    )
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)

    start, resumed = resume_training(args.resume, output_dir, args.auto_resume, model, optimizer, scaler)
    progress = EpochProgress(**resumed["progress"]) if resumed and "progress" in resumed else None
    if args.compile:
        compile_in_place(model, device)
    ddp = dist.wrap_ddp(model, device)
    loader = build_loader(dataset, args.batch_size, True, args.num_workers, args.seed, args.pin_mem)
    steps, schedules = plan_steps(args, loader, rates)
    settings = StepSettings(device, amp_dtype, args.update_freq, args.clip_grad, args.seed, args.save_every_steps)
    probe = args.probe_every and PretrainingProbe(
        args.probe_data, args.probe_every, model.encoder.patch_embed.input_shape, args.sampling_rate, device,
        amp_dtype, logger, batch_size=args.batch_size, num_workers=args.num_workers, pin_memory=args.pin_mem,
    )  # fmt: skip

    print(f"pretraining {args.model} on {len(dataset)} clips: {steps} steps/epoch, lr {rates.lr:.3g}, amp {amp_dtype}")
    logger.start_at(start)  # the log line of an epoch precedes its checkpoint: a resumed run rewrites it once

    def save_progress(progress):
        if output_dir:
            save_step_checkpoint(output_dir, progress, model, optimizer, scaler, args)

    for epoch in range(start, args.epochs):
        start_epoch(loader, epoch, args.seed, progress.batches if progress else 0)
        stats = train_one_epoch(
            ddp, loader, optimizer, scaler, schedules, epoch, pretrain_loss, settings, logger, None, progress,
            save_progress,
        )  # fmt: skip
        progress = None
        probed = probe(epoch, model) if probe else {}  # probe UARs (tensorboard too) every --probe_every epochs
        logger.epoch({"epoch": epoch, **{f"train_{k}": v for k, v in stats.items()}, **probed})
        if output_dir:
            save_epoch_checkpoint(output_dir, epoch, args.save_ckpt_freq, model, optimizer, scaler, args)
        print(
            f"epoch {epoch}: loss {stats['loss']:.4f} (appearance {stats['appearance']:.4f}, "
            f"motion {stats['motion']:.4f}), {stats['epoch_time_s']:.0f} s"
        )
    logger.close()
    return stats if args.epochs > start else None


if __name__ == "__main__":
    arguments = get_args()
    try:
        main(arguments)
    except (AnnotationError, CheckpointError, DataLoadError, NonFiniteLossError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
    finally:
        dist.cleanup()
