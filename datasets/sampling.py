"""The clip sampler: which frame indices of an L-frame video make a clip, for every mode.

Legend: L frames in the video, r sampling rate (stride), T frames per clip, span = T * r.
The pretrain, train and test rules are upstream's (SPEC c.2, c.3); the validation rule is new (deterministic).
Random draws use numpy's global generator, which PyTorch seeds differently in every DataLoader worker.
"""

import numpy as np


def pretrain_indices(num_frames, clip_len=16, rate=4):
    """T frames at stride r from a start drawn in {0, ..., L - span}; shorter videos start at 0.

    As upstream, the index advances only while index + r <= L - 2, so a short video repeats its last
    reachable frame (frame L - 1 itself is never reached by a step).
    """
    span = clip_len * rate
    start = np.random.randint(num_frames - span + 1) if num_frames >= span else 0
    indices = np.empty(clip_len, dtype=np.int64)
    index = start
    for k in range(clip_len):
        indices[k] = index
        if index + rate + 1 < num_frames:
            index += rate
    return indices


def _short_clip(num_frames, clip_len, rate):
    """L <= span: L // r evenly spaced frames over the whole video, padded at the end with its last frame."""
    spread = np.linspace(0, num_frames, num=num_frames // rate)
    padded = np.concatenate([spread, np.full(clip_len - len(spread), num_frames)])
    return np.clip(padded, 0, num_frames - 1).astype(np.int64)


def _window(start, clip_len, span):
    """T evenly spaced frames in [start, start + span)."""
    end = start + span
    return np.clip(np.linspace(start, end, num=clip_len), start, end - 1).astype(np.int64)


def train_indices(num_frames, clip_len=16, rate=4):
    """L <= span: the whole video (see _short_clip); else a span-long window ending at U{span, ..., L - 1}."""
    span = clip_len * rate
    if num_frames <= span:
        return _short_clip(num_frames, clip_len, rate)
    end = np.random.randint(span, num_frames)
    return _window(end - span, clip_len, span)


def center_indices(num_frames, clip_len=16, rate=4):
    """Validation: the training rule with the window fixed in the middle of the video."""
    span = clip_len * rate
    if num_frames <= span:
        return _short_clip(num_frames, clip_len, rate)
    return _window((num_frames - span) // 2, clip_len, span)


def test_indices(num_frames, clip_len=16, rate=4, num_segments=2):
    """(num_segments, T) index array: every r-th frame from 0, padded to T with the last, cut in T-long clips.

    Clip k starts at int(k * (L' - T) / (num_segments - 1)) of the L' strided frames: the first and the
    last T for two segments. One segment takes the middle T (upstream divides by zero there).
    """
    strided = np.arange(0, num_frames, rate)
    strided = np.concatenate([strided, np.full(max(clip_len - len(strided), 0), strided[-1])])
    slack = len(strided) - clip_len
    if num_segments == 1:
        starts = [slack // 2]
    else:
        starts = [int(k * max(slack / (num_segments - 1), 0)) for k in range(num_segments)]
    return np.stack([strided[s : s + clip_len] for s in starts])
