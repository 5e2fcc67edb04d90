"""Data loading throughput of one worker (one process, one thread), next to the bare decode rate.

Generates synthetic face clips shaped like DFEW (256 x 256 jpg frame folders, the same clips as H.264 mp4, and the
mp4s packed into shards by preprocess.pack_shards, frames as they are and resized to the model's 160 x 160 with
--short_side 160), then times every pipeline item by item, interleaved with a bare decode of a clip drawn by the
same sampling rule. Pretraining is timed on every source, and with --num_sample 2 (two views per decoded clip) on
the mp4s and the shards. Times are CPU time of this process (every
library is held to one thread), which is what a worker on a core of its own spends and does not count time lost to
other jobs on a shared machine. Each rate is the best of `--repeats` passes. Freed memory is kept for reuse, as
the entry points (and so their DataLoader workers) do, unless --default_malloc. Prints Markdown tables, the last
one the CPU cores a GPU consuming --gpu_rates items/s needs.

    python -m bench.bench_data [--clips 24] [--frames 64] [--size 256] [--repeats 3] [--gpu_rates 378 756]
"""

import argparse
import functools
import os
import random
import tempfile
import time

import cv2
import numpy as np
import torch
from PIL import Image
from timm.data.auto_augment import rand_augment_transform

from datasets.annotations import read_annotations, write_annotations
from datasets.rand_augment import VideoRandAugment
from datasets.sampling import pretrain_indices, test_indices, train_indices
from datasets.synthetic import generate
from datasets.transforms import resize
from datasets.video_dataset import FinetuneDataset, PretrainDataset
from datasets.video_io import open_video
from preprocess.pack_shards import get_args as pack_args
from preprocess.pack_shards import pack
from system.memory import keep_freed_memory


def _best_rate(passes):
    """Items per second of the fastest pass; passes = [(item count, seconds)]."""
    return max(count / seconds for count, seconds in passes)


def measure(dataset, pick, repeats):
    """(pipeline rate, bare decode rate) in clips per second; pick(item, L) gives the decoded indices."""
    views = getattr(dataset, "num_views", 1)
    pipeline, decode = [], []
    for _ in range(repeats):
        pipeline_time = decode_time = 0.0
        for item in range(len(dataset)):
            start = time.process_time()
            video, _ = dataset._open(item // views)  # the clip source the item reads: a file, folder or sample
            video.read(pick(item, len(video)))
            middle = time.process_time()
            dataset[item]
            pipeline_time += time.process_time() - middle
            decode_time += middle - start
        pipeline.append((len(dataset), pipeline_time))
        decode.append((len(dataset), decode_time))
    if dataset.failures.count:
        raise RuntimeError(f"{dataset.failures.count} clips failed to load")
    return _best_rate(pipeline), _best_rate(decode)


def _view_indices(item, num_frames, rate, segments, crops):
    """The frames of test item `item`: view item % (segments * crops), segment view // crops."""
    return test_indices(num_frames, 16, rate, segments)[item // crops % segments]


def bench_loading(root, rate, repeats):
    """Rows (source, pipeline, views per clip, pipeline clips/s, bare decode clips/s)."""
    rows = []
    pick_pretrain = lambda i, n: pretrain_indices(n, 16, rate)  # noqa: E731
    for source, annotation in (("jpg folders", "frames.csv"), ("mp4", "videos.csv")):
        annotation = os.path.join(root, annotation)
        train = FinetuneDataset(annotation, "train", 7, sampling_rate=rate)
        rows.append((source, "train", 1, *measure(train, lambda i, n: train_indices(n, 16, rate), repeats)))
        test = FinetuneDataset(annotation, "test", 7, sampling_rate=rate)
        pick = functools.partial(_view_indices, rate=rate, segments=test.num_segments, crops=test.num_crops)
        rows.append((source, "test (one view)", 1, *measure(test, pick, repeats)))
    for source, location in (
        ("jpg folders", "frames.csv"),
        ("mp4", "videos.csv"),
        ("packed shards, frames as generated", "shards"),
        ("packed shards, --short_side 160", "shards_160"),
    ):
        for num_sample in (1, 2) if source != "jpg folders" else (1,):
            pretrain = PretrainDataset(os.path.join(root, location), sampling_rate=rate, num_sample=num_sample)
            name = "pretrain" if num_sample == 1 else f"pretrain, --num_sample {num_sample}"
            rows.append((source, name, num_sample, *measure(pretrain, pick_pretrain, repeats)))
    return rows


class PillowRandAugment:
    """The upstream way, for comparison: timm's Pillow RandAugment frame by frame, replaying one draw."""

    def __init__(self, config_str, input_size):
        hparams = dict(translate_const=int(0.45 * input_size), img_mean=(128, 128, 128), interpolation=Image.BICUBIC)
        self.rand_augment = rand_augment_transform(config_str, hparams)

    def __call__(self, frames):
        state, numpy_state = random.getstate(), np.random.get_state()
        out = []
        for frame in frames:
            random.setstate(state)
            np.random.set_state(numpy_state)
            out.append(np.asarray(self.rand_augment(Image.fromarray(frame))))
        return np.stack(out)


def bench_rand_augment(root, repeats, clips=100):
    frames = open_video(read_annotations(os.path.join(root, "frames.csv"))[0].path).read(range(16))
    frames = resize(frames, 160, 160)
    rows = []
    for name, augment in (
        ("video kernels, bilinear (default)", VideoRandAugment(input_size=160)),
        ("video kernels, bicubic", VideoRandAugment(input_size=160, interpolation="bicubic")),
        ("timm Pillow ops frame by frame, bicubic (upstream)", PillowRandAugment("rand-m7-n4-mstd0.5-inc1", 160)),
    ):
        passes = []
        for _ in range(repeats):
            random.seed(0)
            np.random.seed(0)
            start = time.process_time()
            for _ in range(clips):
                augment(frames)
            passes.append((clips, time.process_time() - start))
        rows.append((name, 1000 / _best_rate(passes)))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=24)
    parser.add_argument("--frames", type=int, default=64, help="frames per clip")
    parser.add_argument("--size", type=int, default=256, help="frame side (DFEW ships 256 x 256)")
    parser.add_argument("--rate", type=int, default=4, help="sampling rate (DFEW: 4)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--default_malloc", action="store_true", help="leave glibc malloc's settings alone")
    parser.add_argument("--gpu_rates", type=float, nargs="+", default=[378, 756], help="items/s a GPU consumes")
    args = parser.parse_args()
    kept = not args.default_malloc and keep_freed_memory()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as root:
        generate(root, num_clips=args.clips, num_pretrain=0, num_frames=args.frames, size=args.size, workers=2)
        clips = [(i, os.path.join(root, "frames", f"clip_{i:05d}")) for i in range(args.clips)]
        write_annotations(os.path.join(root, "frames.csv"), [(path, 0) for _, path in clips])
        write_annotations(
            os.path.join(root, "videos.csv"),
            [(os.path.join(root, "videos", f"clip_{i:05d}.mp4"), 0) for i, _ in clips],
        )
        for folder, options in (("shards", []), ("shards_160", ["--short_side", "160"])):
            pack(
                pack_args(
                    ["--data_path", os.path.join(root, "videos.csv"), "--out", os.path.join(root, folder), *options]
                )
            )
        random.seed(0)
        np.random.seed(0)
        torch.manual_seed(0)
        loading = bench_loading(root, args.rate, args.repeats)
        rand_augment = bench_rand_augment(root, args.repeats)
    print(
        f"{args.clips} clips of about {args.frames} frames at {args.size} x {args.size}, sampling rate {args.rate}; "
        f"one process, one thread, CPU time, freed memory kept: {kept}; output (16, 160, 160, 3) uint8\n"
    )
    print("| source | pipeline | pipeline clips/s | views/s | bare decode clips/s | pipeline / decode |")
    print("|---|---|---:|---:|---:|---:|")
    for source, pipeline, views, rate, decode in loading:
        print(f"| {source} | {pipeline} | {rate:.1f} | {rate * views:.1f} | {decode:.1f} | {rate / decode:.2f} |")
    pretrain = {(source, views): rate * views for source, pipeline, views, rate, _ in loading if "pretrain" in pipeline}
    print()
    for source in ("packed shards, frames as generated", "packed shards, --short_side 160"):
        print(f"pretraining, {source} / mp4: {pretrain[source, 1] / pretrain['mp4', 1]:.2f}x")
    gpu_columns = " | ".join(f"cores at {r:g} items/s" for r in args.gpu_rates)
    print(f"\n| pretraining source | views per clip | views/s per core | {gpu_columns} |")
    print("|---|---:|---:|" + "---:|" * len(args.gpu_rates))
    for (source, views), rate in pretrain.items():
        print(f"| {source} | {views} | {rate:.1f} | " + " | ".join(f"{r / rate:.1f}" for r in args.gpu_rates) + " |")
    print("\n| RandAugment rand-m7-n4-mstd0.5-inc1 on 16 x 160 x 160 | ms per clip |")
    print("|---|---:|")
    for name, milliseconds in rand_augment:
        print(f"| {name} | {milliseconds:.2f} |")


if __name__ == "__main__":
    main()
