"""Per-video features of any checkpoint (pretraining or fine-tuned, ours or upstream) for probes and other tools.

    python extract_features.py CHECKPOINT --data_path saved/data/dfew/split01 --output_dir features/dfew/split01
    torchrun --nproc_per_node=N extract_features.py CHECKPOINT --data_path test.csv --output_dir features/test

--data_path is an annotation file, or a split folder: then train.csv, val.csv and test.csv each get a subfolder
of --output_dir. Every video runs through the test pipeline (--test_num_segment x --test_num_crop views, as
run_finetuning.py tests); its features are the encoder's region tokens (M, C) and its local tokens averaged
over each time slice (t, C), both averaged over the views, in .npy shards with an index.csv (row, shard,
offset, video, path, label, num_views). A video that cannot be read is left out and listed in features.json
(--strict_eval: an error). A killed run resumes where it stopped when run again.
inspection/features.py describes the folder; inspection.features.load_features reads it back.
"""

import argparse
import sys
from pathlib import Path

from datasets.annotations import AnnotationError
from datasets.video_dataset import DataLoadError
from engine import distributed as dist
from engine.setup import parse_amp, str2bool
from inspection.features import FeatureError, FeatureSettings, extract_features
from models import CheckpointError
from models.pretrained import encoder_from_checkpoint

SPLITS = ("train", "val", "test")


def get_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="a pretraining or fine-tuned checkpoint, ours or upstream")
    p.add_argument("--data_path", required=True, help="an annotation file, or a folder with train/val/test.csv")
    p.add_argument("--output_dir", required=True)
    p.add_argument("--data_root", default=None, help="resolve relative clip paths here (default: csv folder)")
    p.add_argument("--sampling_rate", type=int, default=None, help="default: the checkpoint's, else 4")
    p.add_argument("--short_side_size", type=int, default=None, help="default: the model's input size")
    p.add_argument("--test_num_segment", type=int, default=2)
    p.add_argument("--test_num_crop", type=int, default=2)
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--num_workers", type=int, default=4)
    p.add_argument("--pin_mem", type=str2bool, default=True)
    p.add_argument("--strict_eval", action="store_true", help="an unreadable video is an error, not left out")
    p.add_argument("--shard_size", type=int, default=1024, help="videos per .npy shard (the unit of resuming)")
    p.add_argument("--with_head", action="store_true", help="also store a fine-tuned head's class probabilities")
    p.add_argument("--device", default="cuda")
    p.add_argument("--amp", default="none", choices=["auto", "fp16", "bf16", "none"], help="auto: fp16 on GPUs")
    return p.parse_args(argv)


def jobs(data_path, output_dir):
    """(annotation file, features folder) pairs: one file, or the train/val/test files of a split folder."""
    data_path, output_dir = Path(data_path), Path(output_dir)
    if not data_path.is_dir():
        return [(data_path, output_dir)]
    found = [(data_path / f"{s}.csv", output_dir / s) for s in SPLITS if (data_path / f"{s}.csv").exists()]
    if not found:
        raise FeatureError(f"{data_path}: is a folder without train.csv, val.csv or test.csv")
    return found


def main(args):
    device = dist.init_distributed(args.device)
    settings = FeatureSettings(
        data_root=args.data_root,
        sampling_rate=args.sampling_rate,
        short_side_size=args.short_side_size,
        test_num_segment=args.test_num_segment,
        test_num_crop=args.test_num_crop,
        strict=args.strict_eval,
        batch_size=args.batch_size,
        num_workers=args.num_workers,
        pin_memory=args.pin_mem,
        shard_size=args.shard_size,
        with_head=args.with_head,
    )
    encoder = encoder_from_checkpoint(args.checkpoint)
    if not Path(args.data_path).exists():
        raise FeatureError(f"{args.data_path}: no such annotation file or split folder")
    for annotation_file, folder in jobs(args.data_path, args.output_dir):
        extract_features(encoder, annotation_file, folder, settings, device, parse_amp(args.amp, device))


if __name__ == "__main__":
    arguments = get_args()
    try:
        main(arguments)
    except (AnnotationError, CheckpointError, DataLoadError, FeatureError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
    finally:
        dist.cleanup()
