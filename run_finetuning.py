"""Fine-tune a (pretrained) LGI-Former or ViT for dynamic facial expression recognition.

    torchrun --nproc_per_node=N run_finetuning.py --model lgi_former_base_patch16_160 \
        --data_set DFEW --data_path saved/data/dfew/split01 --finetune <pretrained.pth> --output_dir <dir>

Flags keep the upstream MAE-DFER names and defaults. `--eval` tests a checkpoint (ours or a released
upstream one) without training. After training, the multi-view test runs on the last and the best
checkpoint; each writes pred.csv, metrics.json and confusion_matrix.png under test_last/ or test_best/.
A video that cannot be read is left out of validation and test and reported (`--strict_eval`: an error).
Killed at any point, the run resumes from its newest checkpoint and ends as if it had not been interrupted.
"""

from functools import partial
from pathlib import Path

from datasets.specs import get_spec
from datasets.transforms import build_mixup
from datasets.val_split import split_train_list
from datasets.video_dataset import FinetuneDataset
from engine.checkpoint import resume_training
from engine.data import build_loader
from engine.finetune import finetune_loss, keep_best, load_pretrained, run_test
from engine.optim import param_groups
from engine.run import build_ema, fit, run_main, run_parser, start_run, train_state
from models import create_model, model_family, read_checkpoint

SCHEDULE = dict(epochs=30, save_ckpt_freq=100, lr=1e-3, min_lr=1e-6, warmup_epochs=5, opt_betas=(0.9, 0.999))
MODEL = dict(model="lgi_former_base_patch16_160", drop_path=0.1, sampling_rate=None)


def get_args(argv=None):
    p, groups = run_parser(__doc__, **SCHEDULE, **MODEL)
    g = groups["model"]
    g.add_argument("--depth", type=int, default=None, help="override the preset depth")
    g.add_argument("--tubelet_size", type=int, default=2)
    g.add_argument("--drop", type=float, default=0.0, help="dropout rate")
    g.add_argument("--attn_drop_rate", type=float, default=0.0)
    g.add_argument("--init_scale", type=float, default=0.001, help="scale of the initial head weights")
    g.add_argument("--lg_classify_token_type", default="region", choices=["region", "org", "all"])
    g.add_argument("--model_ema", action="store_true")
    g.add_argument("--model_ema_decay", type=float, default=0.9999)
    groups["optimiser"].add_argument("--layer_decay", type=float, default=0.75)
    g = p.add_argument_group("augmentation")
    g.add_argument("--aa", default="rand-m7-n4-mstd0.5-inc1", help="RandAugment policy, 'none' to disable")
    g.add_argument("--crop_scale", type=float, nargs=2, default=(0.08, 1.0), help="area range of the random crop")
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
    g = groups["data"]
    g.add_argument("--data_set", default="DFEW", help="dataset name: DFEW, FERV39k, MAFW, CREMA-D, ...")
    g.add_argument("--data_path", required=True, help="folder holding train.csv, val.csv and test.csv")
    g.add_argument("--val_split", type=float, default=0.0, help="held out of train.csv to validate on (0: val.csv)")
    g.add_argument("--train_shards", default=None, help="train from shards packed from train.csv (folder or URL)")
    g.add_argument("--nb_classes", type=int, default=None, help="default: the dataset's class count")
    g = groups["run"]
    g.add_argument("--finetune", default="", help="initialise from this checkpoint (pretraining or fine-tuning)")
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
    lgi = model_family(args.model, args.attn_type) == "lgi"
    region = tuple(args.lg_region_size) if lgi and args.lg_region_size else None
    optional = {
        "depth": args.depth,
        "attn_type": args.attn_type,
        "region_size": region,
        "pooling": args.lg_classify_token_type if lgi else None,
    }
    return create_model(args.model, **kwargs, **{k: v for k, v in optional.items() if v is not None})


def build_datasets(args, num_classes):
    """train / val / test datasets from <data_path>/{train,val,test}.csv; val is None when absent, train with --eval."""
    folder = Path(args.data_path)
    needed = ("test.csv",) if args.eval else ("train.csv", "test.csv")
    missing = [name for name in needed if not (folder / name).is_file()]
    if missing:
        found = f"holds no {' or '.join(missing)}" if folder.is_dir() else "is not a folder"
        raise ValueError(f"--data_path {folder} {found}: it should hold train.csv, test.csv and optionally val.csv")
    clips = dict(data_root=args.data_root, num_frames=args.num_frames, sampling_rate=args.sampling_rate)
    frames = dict(input_size=args.input_size, short_side_size=args.short_side_size)
    data = partial(
        FinetuneDataset, num_classes=num_classes, max_fail_fraction=args.max_fail_fraction, **clips, **frames
    )
    aa = None if args.aa.lower() == "none" else args.aa
    augment = dict(aa=aa, reprob=args.reprob, crop_scale=tuple(args.crop_scale), num_sample=args.num_sample)
    train_source, val_source = args.train_shards or folder / "train.csv", folder / "val.csv"
    if args.val_split and not args.eval:  # checkpoint-best.pth chosen on clips held out of train.csv, not val.csv
        if args.train_shards:
            raise ValueError("--val_split holds clips of train.csv out; it does not work with --train_shards")
        train_source, val_source = split_train_list(
            train_source, args.val_split, args.seed, args.data_root, num_classes
        )
    train = None if args.eval else data(train_source, "train", **augment)
    val = data(val_source, "val") if isinstance(val_source, list) or val_source.exists() else None
    test = data(folder / "test.csv", "test", test_num_segment=args.test_num_segment, test_num_crop=args.test_num_crop)
    return train, val, test


def main(args):
    run = start_run(args)
    spec = get_spec(args.data_set)
    num_classes = args.nb_classes or spec.num_classes
    args.sampling_rate = args.sampling_rate or spec.sampling_rate
    train_set, val_set, test_set = build_datasets(args, num_classes)
    model = build_model(args, num_classes).to(run.device)
    if args.finetune:
        load_pretrained(model, args.finetune, args.model)
    groups = param_groups(model, args.weight_decay, model.no_weight_decay(), args.layer_decay)
    state = train_state(run, args, model, groups, build_ema(model, args.model_ema_decay) if args.model_ema else None)
    state.best = {"epoch": None, "score": float("-inf")}  # checkpoint-best.pth's, saved with every checkpoint

    def loader(dataset):  # validation and test: 1.5 x the batch, every video once
        return build_loader(dataset, max(1, int(1.5 * args.batch_size)), False, args.num_workers, 0, args.pin_mem)

    test_loader = loader(test_set)

    def test(tag):
        return run_test(run, model, test_loader, spec.class_names, tag, args.strict_eval)

    if args.eval:  # the weights alone: the optimizer's groups follow training flags (--layer_decay) not repeated here
        state.optimizer = state.scaler = None
        if resume_training(args.resume, run.output_dir, args.auto_resume, state)[1] is None:
            raise ValueError("--eval needs a checkpoint: --resume <file>, or one in --output_dir")
        return {"eval": test("eval")}
    switch = dict(prob=args.mixup_prob, switch_prob=args.mixup_switch_prob, mode=args.mixup_mode)
    mixup = build_mixup(num_classes, args.mixup, args.cutmix, args.cutmix_minmax, smoothing=args.smoothing, **switch)
    if mixup is not None and args.batch_size * args.num_sample % 2:
        raise ValueError(
            f"mixup/cutmix need an even --batch_size x --num_sample, got {args.batch_size} x {args.num_sample}"
        )
    validate = val_set is not None and not args.disable_eval_during_finetuning
    end_epoch = keep_best(run, state, loader(val_set), args.val_metric, args.strict_eval) if validate else None
    fit(run, state, train_set, finetune_loss(mixup, args.smoothing), end_epoch)
    results = {"last": test("last")}
    best = run.output_dir / "checkpoint-best.pth" if run.output_dir else None
    if best and best.exists():
        model.load_state_dict(read_checkpoint(best)["model"])
        results["best"] = test("best")
    run.logger.close()
    return results


if __name__ == "__main__":
    run_main(main, get_args())
