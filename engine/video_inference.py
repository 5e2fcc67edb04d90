"""Emotion timeline of a whole video: sliding 16-frame windows over the tracked face, batched.

Window w samples frames start_w + k * stride (k < clip_len), clamped to the last frame; windows start every
`hop` frames and the last one ends on the last frame. A window whose sampled frames mostly lack a face is
marked faceless and gets no prediction; a frame's probabilities are the mean over the face windows that
cover it, and frames that no face window covers stay NaN (no face), never guessed.
"""

from dataclasses import dataclass

import numpy as np
import torch

from datasets.transforms import clip_tensor, normalize
from preprocess.face_crop import crop_faces


@dataclass
class Window:
    start: int  # first frame covered
    end: int  # last frame covered (inclusive)
    indices: np.ndarray  # (clip_len,) sampled frames
    has_face: bool
    probs: np.ndarray | None = None  # (K,) softmax, None without a face


def plan_windows(num_frames, clip_len=16, stride=4, hop=16):
    """Sampled frame indices of every window, (W, clip_len)."""
    span = (clip_len - 1) * stride + 1
    starts = list(range(0, max(num_frames - span, 0) + 1, hop))
    if num_frames > span and starts[-1] != num_frames - span:
        starts.append(num_frames - span)
    offsets = np.arange(clip_len) * stride
    return np.minimum(np.array(starts)[:, None] + offsets[None], num_frames - 1)


def window_clips(frames, track, indices, input_size, min_face_fraction=0.5):
    """Face clips (T, S, S, 3) uint8 of the windows with enough face, and a has-face flag per window.

    Sampled frames without a box borrow the box of the nearest frame in the window that has one.
    """
    clips, has_face = [], []
    for window in indices:
        found = track.found[window]
        ok = found.mean() >= min_face_fraction
        has_face.append(bool(ok))
        if not ok:
            continue
        known = np.flatnonzero(found)
        nearest = known[np.abs(np.arange(len(window))[:, None] - known[None]).argmin(1)]
        boxes = track.boxes[window[nearest]]
        clips.append(clip_tensor(crop_faces(frames[window], boxes, input_size)))
    return clips, np.array(has_face, dtype=bool)


@torch.inference_mode()
def predict_clips(model, clips, device, batch_size=8):
    """Softmax probabilities (N, K) of a list of (T, S, S, 3) uint8 clips, in batches."""
    out = []
    for i in range(0, len(clips), batch_size):
        batch = normalize(torch.stack(clips[i : i + batch_size]).to(device))
        out.append(torch.softmax(model(batch).float(), dim=-1).cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, 0), np.float32)


def frame_timeline(windows, num_frames, num_classes):
    """(T, K) per-frame probabilities: mean of the face windows covering each frame; NaN where none does."""
    total = np.zeros((num_frames, num_classes))
    count = np.zeros(num_frames)
    for w in windows:
        if w.probs is not None:
            total[w.start : w.end + 1] += w.probs
            count[w.start : w.end + 1] += 1
    timeline = np.full((num_frames, num_classes), np.nan)
    covered = count > 0
    timeline[covered] = total[covered] / count[covered, None]
    return timeline


def run_windows(model, frames, track, device, clip_len=16, stride=4, hop=16, input_size=160, batch_size=8):
    """All windows of a video with their predictions."""
    indices = plan_windows(len(frames), clip_len, stride, hop)
    clips, has_face = window_clips(frames, track, indices, input_size)
    probs = iter(predict_clips(model, clips, device, batch_size))
    return [
        Window(int(idx[0]), int(idx[-1]), idx, bool(face), next(probs) if face else None)
        for idx, face in zip(indices, has_face, strict=True)
    ]
