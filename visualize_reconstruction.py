"""What a pretrained MAE-DFER model reconstructs: a PNG grid and an mp4 per clip.

    python visualize_reconstruction.py CHECKPOINT clip.mp4 --output recon/
    python visualize_reconstruction.py CHECKPOINT frames_folder/ --output recon/ --mask_ratio 0.75 --seed 1
    python visualize_reconstruction.py CHECKPOINT saved/data/dfew/split01/test.csv --max_clips 8 --output recon/

CHECKPOINT is a pretraining checkpoint, ours or upstream's. Each clip (the centre clip of the video at the
checkpoint's sampling rate, the short side resized and centre-cropped to the input size) is masked as in
pretraining (mask type, ratio and window default to the checkpoint's flags; --seed fixes the masks) and
reconstructed. <output>/<clip>.png rows: input frames, the masked input as the encoder sees it, the predicted
appearance with the visible patches pasted back, the motion target and the predicted motion (one column per
tubelet); <clip>.mp4 shows the same panels frame by frame. Per-patch normalised predictions are scaled back
with the clip's own patch mean and std, as VideoMAE's visualisation does. reconstruction.json lists the clips
with their appearance and motion losses on the masked tokens (appearance of each tubelet's two frames from a
model pretrained without the motion target) and what predicting zero (each patch's mean, no motion) would cost;
the last line says which share of that the model explains over all clips.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from datasets.annotations import AnnotationError, read_annotations
from datasets.masking import check_lgi_masking, make_mask_generator
from datasets.sampling import center_indices
from datasets.transforms import EvalTransform, normalize
from datasets.video_io import VideoReadError, open_video
from inspection.reconstruction_figure import save_reconstruction
from models import CheckpointError
from models.mae import reconstruction_views
from models.pretrained import checkpoint_args, mae_from_checkpoint

ANNOTATION_EXTENSIONS = (".csv", ".txt")


def get_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="a pretraining checkpoint (ours or upstream)")
    p.add_argument("source", help="a video file, a frame folder, or an annotation file (.csv/.txt)")
    p.add_argument("--output", required=True, help="folder for the PNG grids, mp4s and reconstruction.json")
    p.add_argument("--max_clips", type=int, default=4, help="clips taken from the top of an annotation file")
    p.add_argument("--data_root", default=None, help="resolve relative paths of an annotation file here")
    p.add_argument("--mask_type", default=None, choices=["part_window", "tube", "random"], help="default: ckpt's")
    p.add_argument("--mask_ratio", type=float, default=None, help="default: the checkpoint's, else 0.9")
    p.add_argument("--part_win_size", type=int, nargs=3, default=None, help="window (t, h, w); h, w are used")
    p.add_argument("--sampling_rate", type=int, default=None, help="default: the checkpoint's, else 4")
    p.add_argument("--voxceleb2_crop", action=argparse.BooleanOptionalAction, default=None, help="default: ckpt's")
    p.add_argument("--seed", type=int, default=0, help="seeds the masks")
    p.add_argument("--fps", type=float, default=4.0, help="frame rate of the mp4")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return p.parse_args(argv)


def clip_sources(source, max_clips, data_root=None):
    """(name, path) of every clip to draw: the clips of an annotation file, or the one video or folder."""
    path = Path(source)
    if path.is_file() and path.suffix.lower() in ANNOTATION_EXTENSIONS:
        samples = read_annotations(path, data_root)[:max_clips]
        return [(f"{i:03d}_{Path(s.path).stem}", s.path) for i, s in enumerate(samples)]
    return [(path.stem or path.name, str(path))]


def read_clip(path, num_frames, size, sampling_rate, voxceleb2_crop=False):
    """The centre clip of a video: (T, S, S, 3) uint8, the short side resized to S and centre-cropped."""
    video = open_video(path)
    frames = video.read(center_indices(len(video), num_frames, sampling_rate))
    if voxceleb2_crop:  # VoxCeleb2 (224 x 224): the top, horizontally centred square, as pretraining crops
        left = (frames.shape[2] - size) // 2
        frames = frames[:, :size, left : left + size]
    return EvalTransform(size, size)(frames)


def mask_settings(args, saved, encoder):
    """Mask type, ratio and window: the flags, else the checkpoint's training flags, else the LGI regions."""
    mask_type = args.mask_type or saved.get("mask_type") or "part_window"
    ratio = args.mask_ratio if args.mask_ratio is not None else saved.get("mask_ratio", 0.9)
    window = args.part_win_size or saved.get("part_win_size")
    region = getattr(encoder, "region_size", None)
    window = tuple(window[1:]) if window else (tuple(region[1:]) if region else (5, 10))
    return mask_type, ratio, window


@torch.no_grad()
def main(args):
    model, checkpoint = mae_from_checkpoint(args.checkpoint)
    device = torch.device(args.device)
    model.to(device)
    saved = checkpoint_args(checkpoint)
    _, num_frames, size, _ = model.encoder.patch_embed.input_shape
    grid = model.encoder.patch_embed.grid_size
    rate = args.sampling_rate or saved.get("sampling_rate") or 4
    crop = args.voxceleb2_crop if args.voxceleb2_crop is not None else bool(saved.get("voxceleb2_crop"))
    mask_type, ratio, window = mask_settings(args, saved, model.encoder)
    if hasattr(model.encoder, "region_size"):
        check_lgi_masking(mask_type, grid, window, model.encoder.region_size)
    masks = make_mask_generator(mask_type, grid, ratio, window)
    np.random.seed(args.seed)
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    records = []
    for name, path in clip_sources(args.source, args.max_clips, args.data_root):
        clip = read_clip(path, num_frames, size, rate, crop)
        x = normalize(clip[None].to(device))  # 1, 3, T, S, S
        mask = torch.from_numpy(masks())[None].to(device)  # 1, N
        pred = model(x, mask)
        loss, parts = model.loss(x, mask, pred)
        views = reconstruction_views(
            x, mask, pred, model.patch_size, model.tubelet_size, model.normalize_target, model.frame_diff_target
        )
        save_reconstruction(views, 0, output / f"{name}.png", output / f"{name}.mp4", fps=args.fps)
        _, nothing = model.loss(x, mask, torch.zeros_like(pred))  # each patch's mean and no motion predicted
        losses = {"loss": loss.item(), **{k: v.item() for k, v in parts.items()}}
        records.append(
            {"clip": name, "path": path, **losses, **{f"{k}_predicting_zero": v.item() for k, v in nothing.items()}}
        )
        print(
            f"{name}: loss {losses['loss']:.4f} ("
            + ", ".join(f"{k} {v:.4f}" for k, v in losses.items() if k != "loss")
            + ")"
        )
    settings = dict(sampling_rate=rate, mask_type=mask_type, mask_ratio=ratio, window=list(window), seed=args.seed)
    explained = {
        part: 1 - np.mean([r[part] for r in records]) / np.mean([r[f"{part}_predicting_zero"] for r in records])
        for part in parts
    }
    print(
        f"over {len(records)} clips, share of the masked target explained (against predicting each patch's mean "
        "and no motion): " + ", ".join(f"{part} {share:.1%}" for part, share in explained.items())
    )
    summary = {"checkpoint": str(args.checkpoint), **settings, "explained": explained, "clips": records}
    (output / "reconstruction.json").write_text(json.dumps(summary, indent=1))
    print(f"wrote {len(records)} reconstructions to {output}")
    return summary


if __name__ == "__main__":
    arguments = get_args()
    try:
        main(arguments)
    except (AnnotationError, CheckpointError, VideoReadError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
