"""Drawing a reconstruction (`models.mae.reconstruction_views`) as a PNG grid and an mp4.

Grid: one column per tubelet (its first frame; motion is per tubelet), five rows: the input, the masked input
as the encoder sees it (masked patches black), the predicted appearance with the visible patches pasted
back, the motion target (frame 1 - frame 0 of each tubelet) and the predicted motion (visible patches pasted
back). Motion is drawn signed around mid-grey: 0.5 + 0.5 * difference / s, per channel, where s is the 99th
percentile of the target's absolute difference in that clip (both motion rows share it).
The mp4 shows the same five panels side by side, one video frame per input frame.
"""

from fractions import Fraction

import cv2
import numpy as np
import torch

from datasets.video_io import write_video

ROWS = ("input", "masked input", "prediction", "motion target", "motion prediction")
LABEL_WIDTH, LABEL_HEIGHT = 150, 20
FONT = cv2.FONT_HERSHEY_SIMPLEX


def _uint8(frames):
    """(3, T, H, W) float in [0, 1] -> (T, H, W, 3) uint8."""
    return (frames.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 3, 0).cpu().numpy()


def clip_panels(views, index):
    """The five rows of clip `index` as (frames, H, W, 3) uint8 arrays: T frames for appearance, T/2 for motion."""
    mask = views["mask"][index]  # 1, T, H, W
    target, predicted = views["motion_target"][index], views["motion_prediction"][index]  # 3, T/2, H, W
    scale = torch.quantile(target.abs().flatten().float(), 0.99).clamp_min(1e-3)
    return {
        "input": _uint8(views["input"][index]),
        "masked input": _uint8(views["input"][index] * ~mask),
        "prediction": _uint8(views["prediction"][index]),
        "motion target": _uint8(0.5 + 0.5 * target / scale),
        "motion prediction": _uint8(0.5 + 0.5 * predicted / scale),
    }


def _zoom(frame, zoom):
    return np.repeat(np.repeat(frame, zoom, axis=0), zoom, axis=1)


def _label(width, height, text, left=4):
    canvas = np.full((height, width, 3), 255, np.uint8)
    cv2.putText(canvas, text, (left, height // 2 + 5), FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return canvas


def grid_image(panels, zoom=1):
    """(H', W', 3) uint8: one labelled row per panel, one column per tubelet."""
    columns = len(panels["motion target"])
    step = len(panels["input"]) // columns  # input frames per tubelet
    rows = []
    for name in ROWS:
        frames = panels[name][::step] if len(panels[name]) != columns else panels[name]
        strip = np.concatenate([_zoom(f, zoom) for f in frames], axis=1)
        rows.append(np.concatenate([_label(LABEL_WIDTH, strip.shape[0], name), strip], axis=1))
    return np.concatenate(rows, axis=0)


def video_frames(panels, zoom=1):
    """(T, H', W', 3) uint8: the five panels side by side under their names, frame by frame."""
    num_frames = len(panels["input"])
    step = num_frames // len(panels["motion target"])
    side = panels["input"].shape[1] * zoom
    header = np.concatenate([_label(side, LABEL_HEIGHT, name[:18], left=2) for name in ROWS], axis=1)
    frames = []
    for t in range(num_frames):
        row = [_zoom(panels[name][t if name in ROWS[:3] else t // step], zoom) for name in ROWS]
        frames.append(np.concatenate([header, np.concatenate(row, axis=1)], axis=0))
    return np.stack(frames)


def save_reconstruction(views, index, png_path, mp4_path, fps=4, zoom=None):
    """Write the PNG grid and the mp4 of clip `index`; zoom (nearest) defaults to about 128 px per panel."""
    panels = clip_panels(views, index)
    zoom = zoom or max(1, round(128 / panels["input"].shape[1]))
    cv2.imwrite(str(png_path), cv2.cvtColor(grid_image(panels, zoom), cv2.COLOR_RGB2BGR))
    frames = video_frames(panels, zoom)
    h, w = frames.shape[1:3]
    write_video(mp4_path, frames[:, : h - h % 2, : w - w % 2], fps=Fraction(fps).limit_denominator(1001))
