"""What the motion target of MAE-DFER pretraining is made of on the generated set: expression, talking and
blinking, head motion, or sensor noise.

    python -m bench.motion_energy --size 64 --clips 70

Renders clips of the generator (datasets/synthetic.py) as the pretraining pool's, once whole and once without
each source of motion (the same draws, that source left out), through H.264 and back as the pretraining reads
them, takes the frames and crop the pretraining takes (8 frames 4 apart, multi-scale crop or, with
--no_augmentation, the whole frame) and computes the motion target exactly as the model does (models/mae.py:
16-pixel patches, 2-frame tubelets, each token normalised over its pixels, second frame minus first).
Its mean square over every token is the loss of predicting no motion. A source's share is how much of that the
clip loses without it; "expression" is the part a model can predict from the visible tokens (the face's
controls move together), head motion in part, noise not at all. Also the raw frame difference's mean square
(grey levels^2, no normalisation) for the same clips.
"""

import argparse
import json
import os
import random
import tempfile

import numpy as np
import torch

from datasets.sampling import pretrain_indices
from datasets.synthetic import _jobs, render_clip
from datasets.transforms import PretrainTransform, normalize
from datasets.video_io import read_frames, write_video
from models.mae import reconstruction_targets

SOURCES = ("expression", "talk", "head", "noise")


def through_codec(frames, folder):
    """The frames as the pretraining reads them: written to H.264 as the generator does, decoded back."""
    path = os.path.join(folder, "clip.mp4")
    write_video(path, frames)
    return read_frames(path, list(range(len(frames))))


def pretraining_view(frames, seed, num_frames=8, sampling_rate=4, augment=True):
    """(T, S, S, 3) uint8: the frames and the crop the pretraining would take (datasets/video_dataset.py's
    PretrainDataset; the whole frame with augment=False, run_pretraining.py --no_augmentation), drawn from
    `seed` so that every variant of a clip gets the same."""
    random.seed(seed)
    np.random.seed(seed)
    frames = np.asarray(frames)
    indices = pretrain_indices(len(frames), num_frames, sampling_rate)
    return PretrainTransform(frames.shape[1], augment=augment)(frames[indices])


def motion_target(clip, patch_size=16):
    """(N, p*p*3): the motion half of the normalised target of every token of `clip` (T, S, S, 3) uint8."""
    video = normalize(clip[None])  # 1, 3, T, S, S
    num_tokens = (clip.shape[0] // 2) * (clip.shape[1] // patch_size) ** 2
    every = torch.ones(1, num_tokens, dtype=torch.bool)
    target = reconstruction_targets(video, every, patch_size, 2, True, True, num_masked=num_tokens)
    return target[0, :, target.shape[-1] // 2 :]


def raw_difference(clip):
    """Mean square of the difference between the two frames of each tubelet, in grey levels^2."""
    clip = clip.float()
    return float(((clip[1::2] - clip[0::2]) ** 2).mean())


def measure(size, clips, num_frames, seed, augment=True):
    """{variant: (mean square of the motion target, of the raw difference)} over `clips` clips."""
    variants = {"whole": (), **{f"without {s}": (s,) for s in SOURCES}, "expression alone": SOURCES[1:]}
    sums = {name: np.zeros(2) for name in variants}
    with tempfile.TemporaryDirectory() as folder:
        # the first `clips` of the unlabelled pool datasets.synthetic writes with this seed
        for _, _, index, clip_seed, label, length, *_ in _jobs(folder, "pretrain", clips, seed, num_frames, size, 25):
            for name, without in variants.items():
                frames = through_codec(render_clip(clip_seed, label, length, size, without=without), folder)
                clip = pretraining_view(frames, seed * 100003 + index, augment=augment)
                sums[name] += (float(motion_target(clip).pow(2).mean()), raw_difference(clip))
    return {name: (total / clips).tolist() for name, total in sums.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--clips", type=int, default=70)
    p.add_argument("--num_frames", type=int, default=32, help="mean clip length, as datasets.synthetic's")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no_augmentation", action="store_true", help="the whole frame, as run_pretraining.py's flag")
    p.add_argument("--out", default=None, help="write the table as JSON here")
    args = p.parse_args()
    result = measure(args.size, args.clips, args.num_frames, args.seed, not args.no_augmentation)
    whole = result["whole"][0]
    print(f"{args.clips} clips, {args.size} px; motion target's mean square (predicting no motion), share of it")
    print("| clips | motion target | share lost | raw difference (grey^2) |\n|---|---|---|---|")
    for name, (target, raw) in result.items():
        share = f"{round((whole - target) / whole, 2) + 0.0:.0%}" if name.startswith("without") else ""
        print(f"| {name} | {target:.4f} | {share} | {raw:.1f} |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(dict(args=vars(args), result=result), f, indent=1)


if __name__ == "__main__":
    main()
