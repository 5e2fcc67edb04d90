"""Clip-consistent RandAugment: timm's policy, one draw per clip, applied to all frames at once.

timm parses the config string and owns the op list and the magnitude-to-argument rules (`level_fn`); this
module draws the ops and their arguments once per clip exactly as timm's AugmentOp does per image, and runs
each op on the whole (T, H, W, 3) uint8 clip with OpenCV/numpy kernels that reproduce Pillow's ops
(tests/test_transforms.py compares them with timm's). Per-frame statistics (AutoContrast, Equalize,
Contrast) stay per frame, as upstream. Running on the clip instead of through Pillow frame by frame cuts
the cost about sixfold (bench/bench_data.py). Geometric ops sample bilinearly by default, which makes the
whole augmentation 2-3 times cheaper than with upstream's bicubic; `interpolation="bicubic"` restores it.
"""

import math
import random

import cv2
import numpy as np
from timm.data.auto_augment import rand_augment_transform

_LEVEL_DENOM = 10.0  # timm's magnitude scale
FILL = 128
_IDENTITY = np.arange(256)


def _lut(frames, table):
    """Apply a (256,) table to every pixel and channel of a (T, H, W, 3) uint8 clip."""
    t, h, w, c = frames.shape
    table = np.clip(table, 0, 255).astype(np.uint8)
    return cv2.LUT(frames.reshape(t * h, w, c), table).reshape(frames.shape)


def _per_frame_lut(frames, tables):
    """Apply (T, 256, 3) tables: frame t, channel c through tables[t, :, c]."""
    tables = np.clip(tables, 0, 255).astype(np.uint8)
    out = np.empty_like(frames)
    for frame, table, result in zip(frames, tables, out, strict=True):
        cv2.LUT(frame, table[:, None, :], dst=result)
    return out


def _blend(degenerate, frames, factor):
    """Pillow's Image.blend(degenerate, frames, factor), i.e. degenerate + factor * (frames - degenerate)."""
    t, h, w, c = frames.shape
    out = cv2.addWeighted(frames.reshape(t * h, w, c), factor, degenerate.reshape(t * h, w, c), 1.0 - factor, 0.0)
    return out.reshape(frames.shape)


def _gray(frames):
    t, h, w, c = frames.shape
    return cv2.cvtColor(frames.reshape(t * h, w, c), cv2.COLOR_RGB2GRAY).reshape(t, h, w)  # ITU-R 601-2 luma


def _channel_range(frames):
    """Per-frame, per-channel min and max, each (T, 1, 3): reduce rows first, which numpy vectorises."""
    t, h, w, c = frames.shape
    rows = frames.reshape(t, h, w * c)
    lo = rows.min(axis=1).reshape(t, w, c).min(axis=1)
    hi = rows.max(axis=1).reshape(t, w, c).max(axis=1)
    return lo[:, None, :].astype(np.float64), hi[:, None, :].astype(np.float64)


def auto_contrast(frames):
    lo, hi = _channel_range(frames)
    scale = 255.0 / np.maximum(hi - lo, 1)
    tables = np.where(hi > lo, (_IDENTITY[None, :, None] - lo) * scale, _IDENTITY[None, :, None])
    return _per_frame_lut(frames, np.floor(tables))


def equalize(frames):
    """Pillow's ImageOps.equalize per frame and channel: value i -> (step // 2 + #values below i) // step,
    step = (pixels - count of the top value) // 255; identity when step is 0."""
    hists = np.array(
        [[cv2.calcHist([frame], [c], None, [256], [0, 256])[:, 0] for c in range(3)] for frame in frames]
    ).astype(np.int64)  # (T, 3, 256)
    top = np.take_along_axis(hists, 255 - np.argmax(hists[..., ::-1] > 0, axis=-1)[..., None], axis=-1)
    step = (hists.sum(-1, keepdims=True) - top) // 255  # (T, 3, 1)
    below = np.cumsum(hists, axis=-1) - hists
    tables = np.where(step > 0, (step // 2 + below) // np.maximum(step, 1), _IDENTITY)
    return _per_frame_lut(frames, tables.transpose(0, 2, 1))


def invert(frames):
    return _lut(frames, 255 - _IDENTITY)


def posterize(frames, bits):
    if bits >= 8:
        return frames
    return _lut(frames, _IDENTITY & (0xFF << (8 - bits)) & 0xFF)


def solarize(frames, threshold):
    return _lut(frames, np.where(_IDENTITY < threshold, _IDENTITY, 255 - _IDENTITY))


def solarize_add(frames, add, threshold=128):
    return _lut(frames, np.where(_IDENTITY < threshold, np.minimum(255, _IDENTITY + add), _IDENTITY))


def color(frames, factor):
    gray = np.repeat(_gray(frames)[..., None], 3, axis=-1)
    return _blend(gray, frames, factor)


def contrast(frames, factor):
    means = np.floor(_gray(frames).mean(axis=(1, 2)) + 0.5)  # (T,), per frame as Pillow
    degenerate = np.broadcast_to(means[:, None, None, None], frames.shape).astype(np.uint8)
    return _blend(np.ascontiguousarray(degenerate), frames, factor)


def brightness(frames, factor):
    return _blend(np.zeros_like(frames), frames, factor)


def sharpness(frames, factor):
    t, h, w, c = frames.shape
    kernel = np.array([[1, 1, 1], [1, 5, 1], [1, 1, 1]], np.float32) / 13  # Pillow's SMOOTH
    smooth = cv2.filter2D(frames.reshape(t * h, w, c), -1, kernel).reshape(frames.shape)
    # Pillow leaves the 1-pixel border unfiltered; resetting it also undoes bleeding between stacked frames.
    smooth[:, [0, -1]] = frames[:, [0, -1]]
    smooth[:, :, [0, -1]] = frames[:, :, [0, -1]]
    return _blend(smooth, frames, factor)


def _affine(frames, matrix, interpolation):
    """Pillow's Image.transform(AFFINE, matrix): output pixel (x, y) samples input (a x + b y + c, d x + e y + f),
    in Pillow's coordinates where pixel centres sit at +0.5. The sampling map is built once per clip."""
    a, b, c, d, e, f = matrix
    h, w = frames.shape[1:3]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32) + 0.5
    map_x = a * xs + b * ys + c - 0.5
    map_y = d * xs + e * ys + f - 0.5
    fixed, fraction = cv2.convertMaps(map_x, map_y, cv2.CV_16SC2)  # OpenCV's fast fixed-point form
    out = np.empty_like(frames)
    for frame, result in zip(frames, out, strict=True):
        cv2.remap(frame, fixed, fraction, interpolation, dst=result, borderValue=(FILL, FILL, FILL))
    return out


def rotate(frames, degrees, interpolation):
    h, w = frames.shape[1:3]
    angle = -math.radians(degrees)
    a, b = math.cos(angle), math.sin(angle)
    cx, cy = w / 2, h / 2  # Pillow rotates about the image centre
    return _affine(frames, (a, b, cx - a * cx - b * cy, -b, a, cy + b * cx - a * cy), interpolation)


def shear_x(frames, factor, interpolation):
    return _affine(frames, (1, factor, 0, 0, 1, 0), interpolation)


def shear_y(frames, factor, interpolation):
    return _affine(frames, (1, 0, 0, factor, 1, 0), interpolation)


def translate_x(frames, pixels, interpolation):
    return _affine(frames, (1, 0, pixels, 0, 1, 0), interpolation)


def translate_y(frames, pixels, interpolation):
    return _affine(frames, (1, 0, 0, 0, 1, pixels), interpolation)


def translate_x_rel(frames, pct, interpolation):
    return translate_x(frames, pct * frames.shape[2], interpolation)


def translate_y_rel(frames, pct, interpolation):
    return translate_y(frames, pct * frames.shape[1], interpolation)


_PIXEL_OPS = {
    "AutoContrast": auto_contrast,
    "Equalize": equalize,
    "Invert": invert,
    "Posterize": posterize,
    "PosterizeIncreasing": posterize,
    "PosterizeOriginal": posterize,
    "Solarize": solarize,
    "SolarizeIncreasing": solarize,
    "SolarizeAdd": solarize_add,
    "Color": color,
    "ColorIncreasing": color,
    "Contrast": contrast,
    "ContrastIncreasing": contrast,
    "Brightness": brightness,
    "BrightnessIncreasing": brightness,
    "Sharpness": sharpness,
    "SharpnessIncreasing": sharpness,
}
_GEOMETRIC_OPS = {
    "Rotate": rotate,
    "ShearX": shear_x,
    "ShearY": shear_y,
    "TranslateX": translate_x,
    "TranslateY": translate_y,
    "TranslateXRel": translate_x_rel,
    "TranslateYRel": translate_y_rel,
}
_INTERPOLATIONS = {"bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC}


class VideoRandAugment:
    """RandAugment from a timm config string (e.g. 'rand-m7-n4-mstd0.5-inc1') with one draw per clip:
    the same ops, firing decisions, magnitudes and signs on every frame. (T, H, W, 3) uint8 in and out."""

    def __init__(self, config_str="rand-m7-n4-mstd0.5-inc1", input_size=160, interpolation="bilinear"):
        hparams = dict(translate_const=int(0.45 * input_size), img_mean=(FILL, FILL, FILL))
        policy = rand_augment_transform(config_str, hparams)
        unknown = [op.name for op in policy.ops if op.name not in _PIXEL_OPS and op.name not in _GEOMETRIC_OPS]
        if unknown:
            raise ValueError(f"RandAugment ops {unknown} have no video kernel")
        self.ops = policy.ops
        self.num_layers = policy.num_layers
        self.choice_weights = policy.choice_weights
        self.interpolation = _INTERPOLATIONS[interpolation]

    def draw(self):
        """[(op name, level args)] for one clip, drawn as timm's RandAugment and AugmentOp draw per image."""
        chosen = np.random.choice(
            len(self.ops), self.num_layers, replace=self.choice_weights is None, p=self.choice_weights
        )
        params = []
        for op in (self.ops[i] for i in chosen):
            if op.prob < 1.0 and random.random() > op.prob:
                continue
            magnitude = op.magnitude
            if op.magnitude_std == float("inf"):
                magnitude = random.uniform(0, magnitude)
            elif op.magnitude_std > 0:
                magnitude = random.gauss(magnitude, op.magnitude_std)
            magnitude = max(0.0, min(magnitude, op.magnitude_max or _LEVEL_DENOM))
            params.append((op.name, op.level_fn(magnitude, op.hparams) if op.level_fn is not None else ()))
        return params

    def apply(self, frames, params):
        for name, args in params:
            if name in _GEOMETRIC_OPS:
                frames = _GEOMETRIC_OPS[name](frames, *args, self.interpolation)
            else:
                frames = _PIXEL_OPS[name](frames, *args)
        return frames

    def __call__(self, frames):
        return self.apply(frames, self.draw())
