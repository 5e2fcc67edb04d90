"""Reconstruction pictures: the un-normalisation functions beside the targets, and visualize_reconstruction.py."""

import json

import cv2
import numpy as np
import pytest
import torch
from inspect_helpers import (
    assert_one_line_error,
    our_finetuned,
    our_pretrain,
    run_script,
    tiny_data,
    unreadable_video,
    upstream_pretrain,
)

import visualize_reconstruction
from datasets.masking import PartWindowMasking
from datasets.video_io import open_video
from models.mae import pixel_patches, reconstruction_targets, reconstruction_views


def clips_and_masks(batch=2):
    torch.manual_seed(0)
    np.random.seed(0)
    x = 0.6 * torch.randn(batch, 3, 16, 64, 64)
    mask = torch.from_numpy(np.stack([PartWindowMasking((8, 4, 4), 0.9, (2, 4))() for _ in range(batch)]))
    return x, mask


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("frame_diff", [True, False])
def test_a_perfect_prediction_draws_the_input_and_its_motion(normalize, frame_diff):
    x, mask = clips_and_masks()
    perfect = reconstruction_targets(x, mask, 16, 2, normalize, frame_diff)
    views = reconstruction_views(x, mask, perfect, 16, 2, normalize, frame_diff)
    pixels = x * torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1, 1) + torch.tensor([0.485, 0.456, 0.406]).view(
        1, 3, 1, 1, 1
    )
    assert torch.allclose(views["input"], pixels, atol=1e-6)
    assert torch.allclose(views["prediction"], pixels.clamp(0, 1), atol=1e-5)
    assert torch.allclose(views["motion_target"], pixels[:, :, 1::2] - pixels[:, :, 0::2], atol=1e-5)
    assert torch.allclose(views["motion_prediction"], views["motion_target"], atol=1e-5)
    assert views["mask"].shape == (2, 1, 16, 64, 64) and views["mask"].float().mean() == 0.875


def test_masked_tokens_are_unnormalised_with_the_statistics_of_the_pixels_they_hide():
    x, mask = clips_and_masks(batch=1)
    zeros = torch.zeros(1, int(mask.sum()), 2 * 16 * 16 * 3)  # the per-patch mean, and no motion, everywhere
    views = reconstruction_views(x, mask, zeros)
    patches = pixel_patches(x)  # 1, N, 512, 3
    token = int(mask[0].nonzero()[0])  # first masked token: t=0, rows and columns of patch (h, w)
    h, w = divmod(token % 16, 4)
    expected = patches[0, token].mean(0)  # 3: mean over both frames of the tubelet
    drawn = views["prediction"][0, :, 0:2, 16 * h : 16 * h + 16, 16 * w : 16 * w + 16]  # 3, 2, 16, 16
    assert torch.allclose(drawn, expected.clamp(0, 1).view(3, 1, 1, 1).expand_as(drawn), atol=1e-5)
    motion = views["motion_prediction"][0, :, 0, 16 * h : 16 * h + 16, 16 * w : 16 * w + 16]
    assert motion.abs().max() < 1e-6
    visible = (~mask[0]).nonzero()[0].item()
    h, w = divmod(visible % 16, 4)
    region = (slice(None), slice(0, 2), slice(16 * h, 16 * h + 16), slice(16 * w, 16 * w + 16))
    assert torch.allclose(views["prediction"][0][region], views["input"][0][region].clamp(0, 1), atol=1e-5)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("recon")
    data = tiny_data(root / "data")
    return {
        "data": data,
        "ours": our_pretrain(root / "ours.pth"),
        "upstream": upstream_pretrain(root / "upstream.pth"),
        "finetuned": our_finetuned(root / "finetuned.pth"),
        "broken": unreadable_video(root / "broken.mp4"),
    }


@pytest.mark.parametrize("source", ["video", "frames", "csv"])
def test_reconstruction_of_a_video_a_frame_folder_and_an_annotation_file(files, tmp_path, source):
    path = {
        "video": files["data"] / "videos" / "clip_00000.mp4",
        "frames": files["data"] / "frames" / "clip_00000",
        "csv": files["data"] / "split01" / "test.csv",
    }[source]
    args = visualize_reconstruction.get_args(
        [str(files["ours"]), str(path), "--output", str(tmp_path), "--max_clips", "2", "--device", "cpu", "--seed", "3"]
    )
    summary = visualize_reconstruction.main(args)
    names = [c["clip"] for c in summary["clips"]]
    assert len(names) == (2 if source == "csv" else 1)
    assert summary["mask_type"] == "part_window" and summary["window"] == [2, 4] and summary["sampling_rate"] == 2
    for name in names:
        grid = cv2.imread(str(tmp_path / f"{name}.png"))
        assert grid.shape == (5 * 128, 150 + 8 * 128, 3)  # 5 rows, 8 tubelets, 64 px panels drawn at 128 px
        video = open_video(tmp_path / f"{name}.mp4")
        assert len(video) == 16 and video.read([0]).shape == (1, 148, 5 * 128, 3)
    record = json.loads((tmp_path / "reconstruction.json").read_text())
    assert record["seed"] == 3 and all(c["appearance"] > 0 and c["motion"] > 0 for c in record["clips"])
    for part in ("appearance", "motion"):  # against predicting zero: each patch's mean, no motion
        loss, zero = (np.mean([c[key] for c in record["clips"]]) for key in (part, f"{part}_predicting_zero"))
        assert zero > 0 and record["explained"][part] == pytest.approx(1 - loss / zero)


def test_the_same_seed_draws_the_same_masks_and_another_seed_others(files, tmp_path):
    clip = files["data"] / "videos" / "clip_00001.mp4"
    for out, seed in (("a", 0), ("b", 0), ("c", 1)):
        args = [str(files["ours"]), str(clip), "--output", str(tmp_path / out), "--seed", str(seed), "--device", "cpu"]
        visualize_reconstruction.main(visualize_reconstruction.get_args(args))
    a, b, c = (cv2.imread(str(tmp_path / out / "clip_00001.png")) for out in "abc")
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_an_upstream_pretraining_checkpoint_is_drawn_with_its_own_flags(files, tmp_path):
    clip = files["data"] / "frames" / "clip_00002"
    args = [str(files["upstream"]), str(clip), "--output", str(tmp_path), "--mask_ratio", "0.5", "--device", "cpu"]
    summary = visualize_reconstruction.main(visualize_reconstruction.get_args(args))
    assert summary["mask_ratio"] == 0.5 and summary["window"] == [2, 4]  # ratio from the flag, window from its args
    assert (tmp_path / "clip_00002.png").stat().st_size > 0 and (tmp_path / "clip_00002.mp4").stat().st_size > 0


@pytest.mark.parametrize("case", ["missing checkpoint", "fine-tuned checkpoint", "unreadable video"])
def test_bad_inputs_get_one_line_errors(files, tmp_path, case):
    checkpoint, source, fragment = {
        "missing checkpoint": (tmp_path / "nope.pth", files["broken"], "checkpoint file not found"),
        "fine-tuned checkpoint": (files["finetuned"], files["broken"], "not a pretraining checkpoint"),
        "unreadable video": (files["ours"], files["broken"], "broken.mp4"),
    }[case]
    result = run_script("visualize_reconstruction.py", checkpoint, source, "--output", tmp_path, check=False)
    assert_one_line_error(result, fragment)
