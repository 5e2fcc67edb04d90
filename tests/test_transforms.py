import random

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from timm.data.auto_augment import NAME_TO_OP

from datasets import rand_augment
from datasets.rand_augment import VideoRandAugment
from datasets.transforms import (
    MEAN,
    STD,
    EvalTransform,
    PretrainTransform,
    TrainTransform,
    build_mixup,
    hflip,
    multi_scale_crop_params,
    normalize,
    random_erase_,
    random_erase_box,
    random_resized_crop_params,
    resize,
)


@pytest.fixture(autouse=True)
def seed():
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


def smooth_image(height=64, width=80, seed=0):
    noise = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    image = cv2.normalize(cv2.GaussianBlur(noise, (0, 0), 2), None, 0, 255, cv2.NORM_MINMAX)
    return (image * 0.7 + 30).astype(np.uint8)  # no pure black or white, so every op has work to do


def random_clip(t=4, height=48, width=64):
    return np.stack([smooth_image(height, width, seed=i) for i in range(t)])


OP_ARGS = [
    ("AutoContrast", ()),
    ("Equalize", ()),
    ("Invert", ()),
    ("PosterizeIncreasing", (2,)),
    ("SolarizeIncreasing", (100,)),
    ("SolarizeAdd", (60,)),
    ("ColorIncreasing", (1.6,)),
    ("ColorIncreasing", (0.3,)),
    ("ContrastIncreasing", (1.7,)),
    ("ContrastIncreasing", (0.4,)),
    ("BrightnessIncreasing", (1.5,)),
    ("SharpnessIncreasing", (1.9,)),
    ("SharpnessIncreasing", (0.1,)),
    ("Rotate", (17.0,)),
    ("ShearX", (0.2,)),
    ("ShearY", (-0.25,)),
    ("TranslateXRel", (0.3,)),
    ("TranslateYRel", (-0.2,)),
]


@pytest.mark.parametrize("name, args", OP_ARGS, ids=[f"{n}{a}" for n, a in OP_ARGS])
def test_video_kernels_match_timms_pillow_ops(name, args):
    image = smooth_image()
    expected = NAME_TO_OP[name](Image.fromarray(image), *args, fillcolor=(128,) * 3, resample=Image.BILINEAR)
    expected = np.asarray(expected).astype(int)
    clip = np.stack([image, image])
    if name in rand_augment._GEOMETRIC_OPS:
        out = rand_augment._GEOMETRIC_OPS[name](clip, *args, cv2.INTER_LINEAR)
    else:
        out = rand_augment._PIXEL_OPS[name](clip, *args)
    assert out.shape == clip.shape and out.dtype == np.uint8
    difference = np.abs(out[1].astype(int) - expected)
    assert (expected != image).mean() > 0.5  # the op changes the image
    if name in rand_augment._GEOMETRIC_OPS:  # interpolation differs only along the fill border
        assert difference.mean() < 1.0 and np.percentile(difference, 98) <= 2
    else:
        assert difference.max() <= 2


def test_per_frame_statistics_stay_per_frame():
    clip = np.stack([smooth_image(seed=1) // 2, smooth_image(seed=2) // 2 + 120])
    out = rand_augment.auto_contrast(clip)
    for frame, result in zip(clip, out, strict=True):
        expected = np.asarray(NAME_TO_OP["AutoContrast"](Image.fromarray(frame)))
        assert np.abs(result.astype(int) - expected).max() <= 1


def test_rand_augment_is_clip_consistent():
    augment = VideoRandAugment("rand-m7-n4-mstd0.5-inc1", input_size=64)
    clip = np.stack([smooth_image()] * 8)
    changed = 0
    for _ in range(40):
        out = augment(clip)
        assert (out == out[0]).all()  # identical frames in, identical frames out
        changed += not np.array_equal(out, clip)
    assert changed > 20  # p = 0.5 per op, 4 ops: almost every clip changes


def test_rand_augment_draws_timms_policy():
    augment = VideoRandAugment("rand-m7-n4-mstd0.5-inc1")
    assert augment.num_layers == 4 and len(augment.ops) == 15
    drawn = [augment.draw() for _ in range(2000)]
    assert 1.8 < np.mean([len(params) for params in drawn]) < 2.2  # 4 ops firing with p = 0.5
    rotations = [args[0] for params in drawn for name, args in params if name == "Rotate"]
    assert min(rotations) < -15 and max(rotations) > 15 and max(np.abs(rotations)) <= 30


def test_rand_augment_rejects_ops_without_video_kernel():
    with pytest.raises(ValueError, match="no video kernel"):
        VideoRandAugment("rand-m9-n2-t3a")


def test_random_resized_crop_params():
    for _ in range(500):
        top, left, h, w = random_resized_crop_params(160, 160)
        assert 0 <= top <= 160 - h and 0 <= left <= 160 - w
        assert 0.08 * 160 * 160 * 0.9 <= h * w <= 160 * 160 and 3 / 4 * 0.95 <= w / h <= 4 / 3 * 1.05
    assert random_resized_crop_params(10, 100, scale=(0.99, 1.0)) == (0, 43, 10, 13)  # fallback, ratio 4/3


def test_multi_scale_crop_params():
    pairs = set()
    for _ in range(2000):
        top, left, h, w = multi_scale_crop_params(160, 160, 160)
        pairs.add((h, w))
        assert top % ((160 - h) // 4 or 1) == 0 and left % ((160 - w) // 4 or 1) == 0
    sides = [160, 140, 120, 105]  # int(160 * s) for s in (1, .875, .75, .66)
    assert pairs == {(sides[i], sides[j]) for i in range(4) for j in range(4) if abs(i - j) <= 1}
    heights = {multi_scale_crop_params(162, 162, 160)[2] for _ in range(500)}
    assert heights == {160, 141, 121, 106}  # 162 is within 3 px of the input size: it snaps to 160


def test_random_erase_same_box_fresh_noise():
    boxes = torch.stack([random_erase_box(32, 32, probability=1.0), random_erase_box(32, 32, probability=0.0)])
    videos = random_erase_(torch.zeros(2, 3, 6, 32, 32), boxes)
    erased = videos[0] != 0
    top, left, h, w, _ = boxes[0].tolist()
    assert erased.sum() == 3 * 6 * h * w and erased[:, :, top : top + h, left : left + w].all()  # one box, all frames
    assert not torch.equal(videos[0, :, 0], videos[0, :, 1])  # new noise in every frame
    assert torch.equal(videos[1], torch.zeros(3, 6, 32, 32)) and boxes[1].tolist() == [0] * 5
    alone = random_erase_(torch.zeros(1, 3, 6, 32, 32), boxes[:1])
    assert torch.equal(alone[0], videos[0])  # a clip's noise comes from its box's seed, not from the batch


def test_normalisation_and_layout():
    frames = np.zeros((2, 4, 5, 3), np.uint8)
    frames[..., 0], frames[..., 1], frames[..., 2] = 0, 128, 255
    frames[1] = 255
    video = normalize(torch.from_numpy(frames))
    assert video.shape == (3, 2, 4, 5) and video.dtype == torch.float32 and video.is_contiguous()
    batch = normalize(torch.from_numpy(np.stack([frames, frames[::-1]])))
    assert batch.shape == (2, 3, 2, 4, 5) and torch.equal(batch[0], video) and torch.equal(batch[1, :, 0], video[:, 1])
    expected = [(v / 255 - m) / s for v, m, s in zip((0, 128, 255), MEAN, STD, strict=True)]
    torch.testing.assert_close(video[:, 0, 0, 0], torch.tensor(expected))
    torch.testing.assert_close(video[:, 1, 2, 3], (1 - torch.tensor(MEAN)) / torch.tensor(STD))


def test_resize_matches_pillow_bilinear():
    image = smooth_image(96, 96)
    expected = np.asarray(Image.fromarray(image).resize((60, 60), Image.BILINEAR)).astype(int)
    assert np.abs(resize(image[None], 60, 60)[0].astype(int) - expected).max() <= 1


def test_hflip():
    clip = random_clip()
    np.testing.assert_array_equal(hflip(clip), clip[:, :, ::-1])


def test_train_and_pretrain_output():
    clip = random_clip(16, 96, 128)
    video, erase = TrainTransform(160)(clip)
    assert video.shape == (16, 160, 160, 3) and video.dtype == torch.uint8 and erase.shape == (5,)
    for transform in (PretrainTransform(160), PretrainTransform(64, voxceleb2_crop=True)):
        video = transform(clip)
        size = transform.size
        assert video.shape == (16, size, size, 3) and video.dtype == torch.uint8
    grey = np.full((16, 50, 70, 3), 100, np.uint8)  # no augmentation left that can change a flat grey clip
    video, erase = TrainTransform(160, aa=None, reprob=0)(grey)
    assert torch.equal(video, torch.full((16, 160, 160, 3), 100, dtype=torch.uint8)) and not erase.any()


def test_voxceleb2_crop_keeps_top_centre():
    clip = np.zeros((16, 224, 224, 3), np.uint8)
    clip[:, :160, 32:192] = 200  # the face box; everything else black
    video = PretrainTransform(160, voxceleb2_crop=True)(clip)
    torch.testing.assert_close(video[:, 0, 0], video[:1, 80, 80].expand(16, 3))


def test_pretraining_without_augmentation_keeps_the_whole_frame():
    clip = random_clip(8, 64, 64)
    assert torch.equal(PretrainTransform(64, augment=False)(clip), torch.from_numpy(clip))
    cropped = [PretrainTransform(64)(clip) for _ in range(20)]  # some of 20 multi-scale crops zoom in
    assert not all(torch.equal(video, torch.from_numpy(clip)) for video in cropped)
    wide = random_clip(8, 48, 80)  # another size: the whole frame, resized
    assert PretrainTransform(64, augment=False)(wide).shape == (8, 64, 64, 3)


def test_eval_crops():
    wide = random_clip(2, 120, 200)
    transform = EvalTransform(160, 160, num_crops=2)
    left, right = transform(wide, 0), transform(wide, 1)  # 160 x 267 after resizing: crops along the width
    assert left.shape == right.shape == (2, 160, 160, 3) and not torch.equal(left, right)
    square = random_clip(2, 256, 256)
    assert torch.equal(transform(square, 0), transform(square, 1))  # upstream's identical views
    larger = EvalTransform(160, 192, num_crops=2)
    assert not torch.equal(larger(square, 0), larger(square, 1))
    centre = EvalTransform(160, 160)(wide)
    assert not torch.equal(centre, left) and not torch.equal(centre, right)


def test_video_mixup_cutmix_box_spans_all_frames():
    mixup = build_mixup(num_classes=5, mixup=0.0, cutmix=1.0, smoothing=0.1)
    x = torch.arange(4, dtype=torch.float32).view(4, 1, 1, 1, 1).expand(4, 3, 6, 16, 16).clone()
    mixed, target = mixup(x.clone(), torch.tensor([0, 1, 2, 3]))
    assert mixed.shape == x.shape and target.shape == (4, 5)
    torch.testing.assert_close(target.sum(1), torch.ones(4))
    changed = mixed != x
    assert changed.any() and (changed == changed[:, :1, :1]).all()  # same box on every frame and channel
    assert build_mixup(num_classes=5, mixup=0.0, cutmix=0.0) is None
