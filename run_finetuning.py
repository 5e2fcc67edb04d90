"""Fine-tune a (pretrained) LGI-Former or ViT for dynamic facial expression recognition.

    torchrun --nproc_per_node=N run_finetuning.py --model lgi_former_base_patch16_160 \
        --data_set DFEW --data_path saved/data/dfew/split01 --finetune <pretrained.pth> --output_dir <dir>

Flags keep the upstream MAE-DFER names and defaults. `--eval` tests a checkpoint (ours or a released
upstream one) without training. After training, the multi-view test runs on the last and the best
checkpoint; each writes pred.csv, metrics.json and confusion_matrix.png under test_last/ or test_best/.
A video that cannot be read is left out of validation and test and reported (`--strict_eval`: an error).
Killed at any point, the run resumes from its newest checkpoint and ends as if it had not been interrupted.
"""

import argparse
import sys
from pathlib import Path

import torch

from datasets.annotations import AnnotationError
from datasets.specs import get_spec
from datasets.transforms import build_mixup
from datasets.val_split import split_train_list
from datasets.video_dataset import DataLoadError, FinetuneDataset
from engine import distributed as dist
from engine.checkpoint import restore, resume_training, save_checkpoint, save_epoch_checkpoint, save_step_checkpoint
from engine.data import build_loader, start_epoch
from engine.evaluate import coverage, evaluate
from engine.finetune import finetune_loss, run_test
from engine.optim import build_optimizer, param_groups
from engine.setup import build_ema, compile_in_place, default_workers, plan_steps, scaled_lrs, start_run, str2bool
from engine.train import EpochProgress, NonFiniteLossError, StepSettings, train_one_epoch
from models import CheckpointError, create_model, load_weights, model_family, read_checkpoint


def get_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("training")
    g.add_argument("--batch_size", type=int, default=64, help="batch per process")
    g.add_argument("--epochs", type=int, default=30)
    g.add_argument("--update_freq", type=int, default=1, help="gradient accumulation steps")
    g.add_argument(
        "--save_every_steps", type=int, default=0, help="also checkpoint every N steps inside an epoch (0: never)"
    )
    g.add_argument(
        "--num_sample", type=int, default=1, help="augmented views per decoded clip; a batch holds batch_size x N"
    )
    g.add_argument("--save_ckpt_freq", type=int, default=100, help="keep checkpoint-N.pth every N epochs")
    g = p.add_argument_group("model")
    g.add_argument("--model", default="lgi_former_base_patch16_160", help="a name from models.list_models()")
    g.add_argument("--depth", type=int, default=None, help="override the preset depth")
    g.add_argument("--tubelet_size", type=int, default=2)
    g.add_argument("--input_size", type=int, default=160)
    g.add_argument("--drop", type=float, default=0.0, help="dropout rate")
    g.add_argument("--attn_drop_rate", type=float, default=0.0)
    g.add_argument("--drop_path", type=float, default=0.1, help="stochastic depth rate")
    g.add_argument("--init_scale", type=float, default=0.001, help="scale of the initial head weights")
    g.add_argument("--use_checkpoint", action="store_true", help="gradient checkpointing in the encoder")
    g.add_argument("--compile", action="store_true", help="torch.compile the model (GPUs; see README, speed)")
    g.add_argument("--attn_type", default=None, choices=["local_global", "joint"], help="upstream model names only")
    g.add_argument("--lg_region_size", type=int, nargs=3, default=None, help="region size (t, h, w) in tokens")
    g.add_argument("--lg_classify_token_type", default="region", choices=["region", "org", "all"])
    g.add_argument("--model_ema", action="store_true")
    g.add_argument("--model_ema_decay", type=float, default=0.9999)
    g = p.add_argument_group("optimiser")
    g.add_argument("--opt_eps", type=float, default=1e-8)
    g.add_argument("--opt_betas", type=float, nargs=2, default=(0.9, 0.999))
    g.add_argument("--clip_grad", type=float, default=None, help="max grad norm (default: no clipping)")
    g.add_argument("--weight_decay", type=float, default=0.05)
    g.add_argument("--weight_decay_end", type=float, default=None, help="final weight decay (default: constant)")
    g.add_argument("--lr", type=float, default=1e-3, help="base lr, scaled by total batch / 256")
    g.add_argument("--layer_decay", type=float, default=0.75)
    g.add_argument("--warmup_lr", type=float, default=0.0, help="warmup start (upstream parsed 1e-6 but used 0)")
    g.add_argument("--min_lr", type=float, default=1e-6)
    g.add_argument("--warmup_epochs", type=int, default=5)
    g.add_argument("--warmup_steps", type=int, default=-1)
    g = p.add_argument_group("augmentation")
    g.add_argument("--aa", default="rand-m7-n4-mstd0.5-inc1", help="RandAugment policy, 'none' to disable")
    g.add_argument(
        "--crop_scale", type=float, nargs=2, default=(0.08, 1.0), help="area range of the random resized crop"
    )
    g.add_argument("--smoothing", type=float, default=0.1)
    g.add_argument("--reprob", type=float, default=0.25, help="random erasing probability")
    g.add_argument("--mixup", type=float, default=0.8)
    g.add_argument("--cutmix", type=float, default=1.0)
    g.add_argument("--cutmix_minmax", type=float, nargs=2, default=None)
    g.add_argument("--mixup_prob", type=float, default=1.0)
    g.add_argument("--mixup_switch_prob", type=float, default=0.5)
    g.add_argument("--mixup_mode", default="batch", choices=["batch", "pair", "elem"])
    g.add_argument("--short_side_size", type=int, default=160)
    g.add_argument("--test_num_segment", type=int, default=2)
    g.add_argument("--test_num_crop", type=int, default=2)
    g = p.add_argument_group("data")
    g.add_argument("--data_set", default="DFEW", help="dataset name: DFEW, FERV39k, MAFW, CREMA-D, ...")
    g.add_argument("--data_path", required=True, help="folder holding train.csv, val.csv and test.csv")
    g.add_argument("--data_root", default=None, help="resolve relative clip paths here (default: csv folder)")
    g.add_argument("--val_split", type=float, default=0.0, help="held out of train.csv to validate on (0: val.csv)")
    g.add_argument("--train_shards", default=None, help="train from shards packed from train.csv (folder or URL)")
    g.add_argument("--nb_classes", type=int, default=None, help="default: the dataset's class count")
    g.add_argument("--num_frames", type=int, default=16)
    g.add_argument("--sampling_rate", type=int, default=None, help="default: the dataset's (4, FERV39k 1)")
    g.add_argument("--num_workers", type=int, default=default_workers(), help="default: 4, at most the cores")
    g.add_argument("--pin_mem", type=str2bool, default=True)
    g.add_argument("--max_fail_fraction", type=float, default=0.05, help="stop when more clips fail to load")
    g = p.add_argument_group("run")
    g.add_argument("--finetune", default="", help="initialise from this checkpoint (pretraining or fine-tuning)")
    g.add_argument("--output_dir", default="", help="checkpoints, log.txt and test results")
    g.add_argument("--log_dir", default=None, help="tensorboard folder")
    g.add_argument("--device", default="cuda")
    g.add_argument("--amp", default="auto", choices=["auto", "fp16", "bf16", "none"], help="auto: fp16 on GPUs")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--resume", default="", help="resume from this checkpoint")
    g.add_argument("--auto_resume", action=argparse.BooleanOptionalAction, default=True)
    g.add_argument("--eval", action="store_true", help="only test --resume (or the newest checkpoint)")
    g.add_argument("--val_metric", default="acc1", choices=["acc1", "uar"], help="picks checkpoint-best.pth")
    g.add_argument("--disable_eval_during_finetuning", action="store_true")
    g.add_argument("--strict_eval", action="store_true", help="an unreadable val/test video is an error, not left out")
    return p.parse_args(argv)


def build_model(args, num_classes):
    kwargs = dict(
        num_classes=num_classes,
        img_size=args.input_size,
        num_frames=args.num_frames,
        tubelet_size=args.tubelet_size,
        drop_rate=args.drop,
        attn_drop_rate=args.attn_drop_rate,
        drop_path_rate=args.drop_path,
        init_scale=args.init_scale,
        grad_checkpointing=args.use_checkpoint,
    )
    if args.depth is not None:
        kwargs["depth"] = args.depth
    if args.attn_type is not None:
        kwargs["attn_type"] = args.attn_type
    if model_family(args.model, args.attn_type) == "lgi":
        kwargs["pooling"] = args.lg_classify_token_type
        if args.lg_region_size:
            kwargs["region_size"] = tuple(args.lg_region_size)
    return create_model(args.model, **kwargs)


def build_datasets(args, spec, num_classes):
    """train / val / test datasets from <data_path>/{train,val,test}.csv; val is skipped when absent."""
    common = dict(
        num_classes=num_classes,
        data_root=args.data_root,
        num_frames=args.num_frames,
        sampling_rate=args.sampling_rate,
        input_size=args.input_size,
        short_side_size=args.short_side_size,
        max_fail_fraction=args.max_fail_fraction,
    )
    folder = Path(args.data_path)
    needed = ("test.csv",) if args.eval else ("train.csv", "test.csv")
    missing = [name for name in needed if not (folder / name).is_file()]
    if missing:
        found = f"holds no {' or '.join(missing)}" if folder.is_dir() else "is not a folder"
        raise ValueError(f"--data_path {folder} {found}: it should hold train.csv, test.csv and optionally val.csv")
    aa = None if args.aa.lower() == "none" else args.aa
    train, val_source = None, folder / "val.csv"
    if not args.eval:
        augment = dict(aa=aa, reprob=args.reprob, crop_scale=tuple(args.crop_scale))
        source = args.train_shards or folder / "train.csv"
        if args.val_split:  # checkpoint-best.pth chosen on clips held out of train.csv, not on val.csv (= test.csv)
            if args.train_shards:
                raise ValueError("--val_split holds clips of train.csv out; it does not work with --train_shards")
            source, val_source = split_train_list(source, args.val_split, args.seed, args.data_root, num_classes)
        train = FinetuneDataset(source, "train", **augment, num_sample=args.num_sample, **common)
    has_val = not isinstance(val_source, Path) or val_source.exists()
    val = FinetuneDataset(val_source, "val", **common) if has_val else None
    test_views = dict(test_num_segment=args.test_num_segment, test_num_crop=args.test_num_crop)
    test = FinetuneDataset(folder / "test.csv", "test", **test_views, **common)
    return train, val, test


def main(args):
    device, amp_dtype, output_dir, logger = start_run(args)
    spec = get_spec(args.data_set)
    num_classes = args.nb_classes or spec.num_classes
    args.sampling_rate = args.sampling_rate or spec.sampling_rate

    train_set, val_set, test_set = build_datasets(args, spec, num_classes)
    eval_batch = max(1, int(1.5 * args.batch_size))
    test_loader = build_loader(test_set, eval_batch, False, args.num_workers, pin_memory=args.pin_mem)
    val_loader = val_set and build_loader(val_set, eval_batch, False, args.num_workers, pin_memory=args.pin_mem)

    model = build_model(args, num_classes).to(device)
    if args.finetune:
        report = load_weights(model, args.finetune)
        print(f"initialising from {args.finetune}: {report}")
        unexpected_missing = [k for k in report.missing if not k.startswith(("fc_norm.", "head."))]
        if unexpected_missing:
            raise ValueError(f"{args.finetune}: does not fit {args.model}, missing {', '.join(unexpected_missing[:5])}")
    rates = scaled_lrs(args)
    groups = param_groups(model, args.weight_decay, model.no_weight_decay(), args.layer_decay)
    optimizer = build_optimizer(groups, rates.lr, tuple(args.opt_betas), args.opt_eps)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    model_ema = build_ema(model, args.model_ema_decay) if args.model_ema else None

    start, resumed = resume_training(args.resume, output_dir, args.auto_resume, model, optimizer, scaler, model_ema)
    strict = args.strict_eval

    def test(tag):
        classes = spec.class_names
        return run_test(model, test_loader, device, num_classes, classes, output_dir, tag, amp_dtype, logger, strict)

    if args.eval:
        if resumed is None:
            raise ValueError("--eval needs a checkpoint: --resume <file>, or one in --output_dir")
        test("eval")
        return

    mixup = build_mixup(
        num_classes,
        args.mixup,
        args.cutmix,
        args.cutmix_minmax,
        args.mixup_prob,
        args.mixup_switch_prob,
        args.mixup_mode,
        args.smoothing,
    )
    if mixup is not None and args.batch_size * args.num_sample % 2:
        raise ValueError(
            f"mixup/cutmix need an even --batch_size x --num_sample, got {args.batch_size} x {args.num_sample}"
        )
    if args.compile:
        compile_in_place(model, device)
    ddp = dist.wrap_ddp(model, device)
    train_loader = build_loader(train_set, args.batch_size, True, args.num_workers, args.seed, args.pin_mem)
    steps, schedules = plan_steps(args, train_loader, rates)
    settings = StepSettings(device, amp_dtype, args.update_freq, args.clip_grad, args.seed, args.save_every_steps)
    compute_loss = finetune_loss(mixup, args.smoothing)
    print(f"training {args.model} on {len(train_set)} clips: {steps} steps/epoch, lr {rates.lr:.3g}, amp {amp_dtype}")
    # An epoch ends with checkpoint-best.pth (if better), its log.txt line, then checkpoint-N.pth, which holds the
    # best score so far: killed anywhere, the run resumes after its newest checkpoint-N, drops the log lines of
    # later epochs and repeats them exactly, rewriting the same files.
    logger.start_at(start)
    best = (resumed or {}).get("best", {"epoch": None, "score": float("-inf")})
    progress = EpochProgress(**resumed["progress"]) if resumed and "progress" in resumed else None

    def save_progress(progress):
        if output_dir:
            extra = {"best": best}
            save_step_checkpoint(output_dir, progress, model, optimizer, scaler, args, model_ema, extra)

    for epoch in range(start, args.epochs):
        start_epoch(train_loader, epoch, args.seed, progress.batches if progress else 0)
        stats = train_one_epoch(
            ddp, train_loader, optimizer, scaler, schedules, epoch, compute_loss, settings, logger, model_ema,
            progress, save_progress,
        )  # fmt: skip
        progress = None
        record = {"epoch": epoch, **{f"train_{k}": v for k, v in stats.items()}}
        message = f"epoch {epoch}: loss {stats['loss']:.4f}"
        if val_loader is not None and not args.disable_eval_during_finetuning:
            metrics, _ = evaluate(model, val_loader, device, num_classes, amp_dtype, logger, "val", strict)
            record.update({f"val_{k}": metrics[k] for k in ("uar", "war", "macro_f1", "loss")})
            logger.scalars(epoch, "perf", {k[4:]: v for k, v in record.items() if k.startswith("val_")})
            message += f", val UAR {metrics['uar']:.2f} WAR {metrics['war']:.2f}"
            message += f" on {coverage(metrics)}" if metrics["unreadable"] else ""
            score = metrics["uar"] if args.val_metric == "uar" else metrics["war"]
            if score > best["score"] and output_dir:
                best = {"epoch": epoch, "score": score}
                best_file = output_dir / "checkpoint-best.pth"
                save_checkpoint(best_file, model, "best", optimizer, scaler, args, model_ema, {"best": best})
        print(message)
        logger.epoch(record)
        if output_dir:
            save_epoch_checkpoint(
                output_dir, epoch, args.save_ckpt_freq, model, optimizer, scaler, args, model_ema, {"best": best}
            )

    results = {"last": test("last")}
    best_path = output_dir / "checkpoint-best.pth" if output_dir else None
    if best_path and best_path.exists():
        restore(read_checkpoint(best_path), model)
        results["best"] = test("best")
    logger.close()
    return results


if __name__ == "__main__":
    arguments = get_args()
    try:
        main(arguments)
    except (AnnotationError, CheckpointError, DataLoadError, NonFiniteLossError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
    finally:
        dist.cleanup()
