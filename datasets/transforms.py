"""The transform stack: uint8 frames (T, H, W, 3) from datasets.video_io to a uint8 clip (T, S, S, 3),
S = input size; `normalize` turns a batch of them into the model's float32 (B, 3, T, S, S) on the device,
where random erasing and the batch-level Mixup/CutMix follow.

Pipelines (SPEC c.2, c.3):
- PretrainTransform: [VoxCeleb2 top-centre crop] -> multi-scale crop (none with augment=False, upstream's
  --no_augmentation) -> resize S.
- TrainTransform: resize S x S -> RandAugment (same ops and magnitudes on every frame) -> random resized
  crop -> flip, plus the random-erasing box, applied after normalisation (one box through all frames,
  fresh noise per frame).
- EvalTransform: resize the short side, then crop k of n along the long side (k = centre for validation).
Upstream normalises and erases in the loader; here the loaders hand over uint8, a quarter of the bytes to
copy between processes and to the GPU, and the device does the float work (the numbers are the same).
Resizing is torch's uint8 bilinear over the whole clip, antialiased like Pillow's (upstream's) where
upstream used Pillow, plain where it used F.interpolate.
"""

import functools
import math
import random

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from timm.data import Mixup

from datasets.rand_augment import VideoRandAugment

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def resize(frames, height, width, antialias=True):
    """(T, H, W, 3) uint8 -> (T, height, width, 3) uint8, bilinear."""
    if frames.shape[1:3] == (height, width):
        return frames
    video = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)  # (T, 3, H, W), channels last
    video = F.interpolate(video, size=(height, width), mode="bilinear", align_corners=False, antialias=antialias)
    return video.permute(0, 2, 3, 1).numpy()  # (T, height, width, 3)


def resize_short_side(frames, size):
    h, w = frames.shape[1:3]
    if h <= w:
        return resize(frames, size, max(size, round(w * size / h)))
    return resize(frames, max(size, round(h * size / w)), size)


@functools.cache
def _scale_shift(device):
    """ImageNet normalisation as x * scale - shift, each (3, 1, 1, 1), copied to `device` once: a copy to a GPU
    per batch would make the host wait for the device every time."""
    std = torch.tensor(STD).view(3, 1, 1, 1)
    return (1 / (255 * std)).to(device), (torch.tensor(MEAN).view(3, 1, 1, 1) / std).to(device)


def clip_tensor(frames):
    """(T, H, W, 3) uint8 array -> the same as a torch tensor (no copy when contiguous)."""
    return torch.from_numpy(np.ascontiguousarray(frames))


def normalize(clips):
    """uint8 clips (..., T, H, W, 3) -> float32 (..., 3, T, H, W), (x / 255 - mean) / std with ImageNet
    mean and std, on the clips' device."""
    clips = clips.movedim(-1, -4)  # ..., 3, T, H, W
    scale, shift = _scale_shift(clips.device)
    return torch.empty(clips.shape, device=clips.device).copy_(clips).mul_(scale).sub_(shift)


def hflip(frames):
    """Mirror every frame of a (T, H, W, 3) clip."""
    t, h, w, c = frames.shape
    return cv2.flip(np.ascontiguousarray(frames).reshape(t * h, w, c), 1).reshape(frames.shape)


def random_resized_crop_params(height, width, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), attempts=10):
    """(top, left, h, w) of a crop with area fraction ~ U(scale) and log-uniform aspect (torchvision rule)."""
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(attempts):
        target = area * random.uniform(*scale)
        aspect = math.exp(random.uniform(*log_ratio))
        w = round(math.sqrt(target * aspect))
        h = round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            return random.randint(0, height - h), random.randint(0, width - w), h, w
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, round(width / ratio[0])
    elif in_ratio > ratio[1]:
        w, h = round(height * ratio[1]), height
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def random_erase_box(height, width, probability=0.25, area=(0.02, 1 / 3), min_aspect=0.3, attempts=10):
    """timm's RandomErasing draw (mode 'pixel', one box): with `probability`, a box (top, left, h, w) and a
    seed for its noise as int64 [top, left, h, w, seed]; h = 0 when nothing is erased."""
    if random.random() < probability:
        log_aspect = (math.log(min_aspect), math.log(1 / min_aspect))
        for _ in range(attempts):
            target = random.uniform(*area) * height * width
            aspect = math.exp(random.uniform(*log_aspect))
            h = round(math.sqrt(target * aspect))
            w = round(math.sqrt(target / aspect))
            if w < width and h < height:
                top, left = random.randint(0, height - h), random.randint(0, width - w)
                return torch.tensor([top, left, h, w, random.getrandbits(63)])
    return torch.zeros(5, dtype=torch.long)


def random_erase_(videos, boxes):
    """Fill each clip's box of a normalised (B, C, T, H, W) batch with N(0, 1) noise: the same box on every
    frame, fresh noise everywhere, drawn from the box's seed (so a clip's noise does not depend on its
    batch). boxes: (B, 5) rows of random_erase_box. In place."""
    for video, (top, left, h, w, seed) in zip(videos, boxes.tolist(), strict=True):
        if h:
            noise = torch.Generator(videos.device).manual_seed(seed)
            shape = (*video.shape[:2], h, w)
            video[:, :, top : top + h, left : left + w] = torch.randn(shape, generator=noise, device=videos.device)
    return videos


def multi_scale_crop_params(height, width, size, scales=(1, 0.875, 0.75, 0.66), max_distort=1):
    """(top, left, h, w) as upstream's multi-scale crop: side lengths int(min(H, W) * s), snapped to `size`
    within 3 px; a random (h, w) pair whose scale indices differ by at most max_distort; the offset one of
    13 anchors (corners, centre, edge centres, quarter points) on a grid with step ((H - h) // 4, (W - w) // 4)."""
    sides = [int(min(height, width) * s) for s in scales]
    sides = [size if abs(s - size) < 3 else s for s in sides]
    pairs = [(sides[i], sides[j]) for i in range(len(sides)) for j in range(len(sides)) if abs(i - j) <= max_distort]
    h, w = random.choice(pairs)
    anchors = ((0, 0), (0, 4), (4, 0), (4, 4), (2, 2), (2, 0), (2, 4), (4, 2), (0, 2), (1, 1), (1, 3), (3, 1), (3, 3))
    row, col = random.choice(anchors)
    return row * ((height - h) // 4), col * ((width - w) // 4), h, w


class PretrainTransform:
    def __init__(self, input_size=160, voxceleb2_crop=False, augment=True):
        self.size = input_size
        self.voxceleb2_crop = voxceleb2_crop
        self.augment = augment

    def __call__(self, frames):
        if self.voxceleb2_crop:
            # VoxCeleb2 (224 x 224): keep the top, horizontally centred size x size square (the face).
            left = (frames.shape[2] - self.size) // 2
            frames = frames[:, : self.size, left : left + self.size]
        if self.augment:
            top, left, h, w = multi_scale_crop_params(frames.shape[1], frames.shape[2], self.size)
            frames = frames[:, top : top + h, left : left + w]
        return clip_tensor(resize(frames, self.size, self.size))


class TrainTransform:
    def __init__(
        self,
        input_size=160,
        aa="rand-m7-n4-mstd0.5-inc1",
        reprob=0.25,
        scale=(0.08, 1.0),
        hflip=0.5,
        aa_interpolation="bilinear",
    ):
        self.size = input_size
        self.rand_augment = VideoRandAugment(aa, input_size, aa_interpolation) if aa else None
        self.reprob = reprob
        self.scale = scale
        self.flip_prob = hflip

    def __call__(self, frames):  # -> clip (T, S, S, 3) uint8, erase box (5,) for random_erase_
        frames = resize(frames, self.size, self.size)
        if self.rand_augment is not None:
            frames = self.rand_augment(frames)
        top, left, h, w = random_resized_crop_params(self.size, self.size, self.scale)
        # No antialiasing, as upstream's F.interpolate on the crop.
        frames = resize(frames[:, top : top + h, left : left + w], self.size, self.size, antialias=False)
        if random.random() < self.flip_prob:
            frames = hflip(frames)
        return clip_tensor(frames), random_erase_box(self.size, self.size, self.reprob)


class EvalTransform:
    """Resize the short side to short_side_size, then crop input_size x input_size: the k-th of n crops
    spaced evenly along the long side, centred on the short side. Square frames resized to exactly the
    crop size give n equal crops (upstream's test views); a larger short_side_size makes them differ."""

    def __init__(self, input_size=160, short_side_size=160, num_crops=1):
        if short_side_size < input_size:
            raise ValueError(f"short_side_size {short_side_size} is smaller than input_size {input_size}")
        self.size = input_size
        self.short_side_size = short_side_size
        self.num_crops = num_crops

    def __call__(self, frames, crop_index=None):
        frames = resize_short_side(frames, self.short_side_size)
        h, w = frames.shape[1:3]
        if crop_index is None or self.num_crops == 1:
            along = (max(h, w) - self.size) // 2
        else:
            along = int(crop_index * (max(h, w) - self.size) / (self.num_crops - 1))
        across = (min(h, w) - self.size) // 2
        top, left = (along, across) if h >= w else (across, along)
        return clip_tensor(frames[:, top : top + self.size, left : left + self.size])


class VideoMixup(Mixup):
    """timm Mixup/CutMix on (B, C, T, H, W) clips: frames are folded into channels, so one CutMix box
    covers every frame of the clip (upstream's behaviour), then unfolded. Batch size must be even."""

    def __call__(self, x, target):
        b, c, t, h, w = x.shape
        x, target = super().__call__(x.reshape(b, c * t, h, w), target)  # (B, C*T, H, W)
        return x.reshape(b, c, t, h, w), target


def build_mixup(
    num_classes, mixup=0.8, cutmix=1.0, cutmix_minmax=None, prob=1.0, switch_prob=0.5, mode="batch", smoothing=0.1
):
    """VideoMixup with upstream's defaults, or None when mixup and cutmix are both off."""
    if mixup <= 0 and cutmix <= 0 and cutmix_minmax is None:
        return None
    return VideoMixup(
        mixup_alpha=mixup,
        cutmix_alpha=cutmix,
        cutmix_minmax=cutmix_minmax,
        prob=prob,
        switch_prob=switch_prob,
        mode=mode,
        label_smoothing=smoothing,
        num_classes=num_classes,
    )
