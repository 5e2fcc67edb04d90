import logging

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from datasets import video_io
from datasets.annotations import write_annotations
from datasets.masking import MaskError
from datasets.video_dataset import DataLoadError, FinetuneDataset, PretrainDataset


def clip_frames(label, num_frames, size=48):
    """Frames whose colour encodes the label (red channel) and the frame index (green channel)."""
    frames = np.zeros((num_frames, size, size, 3), np.uint8)
    frames[..., 0] = 40 * label
    frames[..., 1] = np.arange(num_frames)[:, None, None] * 4
    return frames


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Good clips: frame folders and mp4 files, 40 frames, labels 0..3; plus the bad ones, by name."""
    root = tmp_path_factory.mktemp("data")
    clips = {}
    for label in range(4):
        folder = root / f"frames {label}"  # spaces in paths
        folder.mkdir()
        for t, frame in enumerate(clip_frames(label, 40), start=1):
            cv2.imwrite(str(folder / f"{t}.png"), frame[..., ::-1])
        clips[f"folder{label}"] = (folder, label)
        video_io.write_video(root / f"video{label}.mp4", clip_frames(label, 40))
        clips[f"mp4{label}"] = (root / f"video{label}.mp4", label)
    short = root / "short"
    short.mkdir()
    for t, frame in enumerate(clip_frames(3, 3), start=1):
        cv2.imwrite(str(short / f"{t}.png"), frame[..., ::-1])
    clips["short"] = (short, 3)
    (root / "corrupt.mp4").write_bytes(np.random.default_rng(0).bytes(4000))
    clips["corrupt"] = (root / "corrupt.mp4", 1)
    return root, clips


def annotation(data, names, filename="list.csv"):
    root, clips = data
    write_annotations(root / filename, [clips[name] for name in names])
    return root / filename


GOOD = [f"folder{i}" for i in range(4)] + [f"mp4{i}" for i in range(4)]


def test_pretrain_items(data):
    dataset = PretrainDataset(annotation(data, GOOD), sampling_rate=2, lgi_region_size=(2, 5, 10))
    assert len(dataset) == 8
    video, mask = dataset[0]
    assert video.shape == (16, 160, 160, 3) and video.dtype == torch.uint8
    assert mask.shape == (800,) and mask.dtype == torch.bool and int(mask.sum()) == 720
    assert not torch.equal(mask, dataset[0][1])


def test_pretrain_rejects_masks_lgi_cannot_group(data):
    with pytest.raises(MaskError, match="use mask_type='part_window'"):
        PretrainDataset(annotation(data, GOOD), mask_type="tube", lgi_region_size=(2, 5, 10))


@pytest.mark.parametrize("source", ["folder", "mp4"])
def test_finetune_train_and_val(data, source):
    names = [f"{source}{i}" for i in range(4)]
    train = FinetuneDataset(annotation(data, names), "train", num_classes=4)
    video, label, erase = train[2]
    assert video.shape == (16, 160, 160, 3) and video.dtype == torch.uint8 and label == 2 and erase.shape == (5,)
    val = FinetuneDataset(annotation(data, names), "val", num_classes=4, sampling_rate=2)
    first, label = val[3]
    assert label == 3 and torch.equal(first, val[3][0])  # deterministic
    # Centre clip of 40 frames at rate 2: frames 4..35, green = 4 * index, up to JPEG/H.264 rounding.
    green = first[:, 80, 80, 1].float()
    expected = torch.tensor([4 * (4 + i * 32 // 15) for i in range(15)] + [4 * 35.0])
    torch.testing.assert_close(green, expected, atol=3, rtol=0)


def test_finetune_test_views(data):
    dataset = FinetuneDataset(
        annotation(data, GOOD), "test", num_classes=4, sampling_rate=2, test_num_segment=2, test_num_crop=3
    )
    assert len(dataset) == 8 * 6 and dataset.num_views == 6
    items = [dataset[i] for i in range(12)]
    assert [(video_index, view_index) for _, _, video_index, view_index in items] == [
        (v, k) for v in range(2) for k in range(6)
    ]
    assert [label for _, label, _, _ in items] == [0] * 6 + [1] * 6
    first_segment, second_segment = items[0][0], items[3][0]  # view 0 and view 3: segment 0 and 1, crop 0
    green = torch.stack([first_segment[0, 80, 80, 1], second_segment[0, 80, 80, 1]])
    assert green.tolist() == [0, 32]  # frames 0 and 8 of 20 strided


def test_three_frame_clip(data, caplog):
    dataset = FinetuneDataset(annotation(data, ["short"]), "train", num_classes=4, reprob=0)
    video, label, _ = dataset[0]
    assert video.shape == (16, 160, 160, 3) and label == 3 and dataset.failures.count == 0
    dataset = FinetuneDataset(
        annotation(data, ["short", "folder0"]), "train", num_classes=4, min_frames=4, max_fail_fraction=0.5
    )
    assert dataset[0][1] == 0  # replaced by the only other clip (training; evaluation leaves it out)
    assert dataset.failures.count == 1 and "3 frames, fewer than min_frames=4" in caplog.text


def test_corrupt_item_is_replaced_counted_and_logged(data, caplog):
    names = ["corrupt"] + GOOD
    dataset = FinetuneDataset(annotation(data, names), "train", num_classes=4, max_fail_fraction=0.2)
    with caplog.at_level(logging.WARNING):
        video, label, _ = dataset[0]
    assert video.shape == (16, 160, 160, 3)
    assert dataset.failures.count == 1 and dataset.failures.loads == 2
    assert "corrupt.mp4" in caplog.text and "replaced" in caplog.text


def test_too_many_failures_stop_with_a_clear_error(data):
    dataset = FinetuneDataset(annotation(data, ["corrupt", "folder0"]), "train", num_classes=4, max_fail_fraction=0.4)
    with pytest.raises(DataLoadError, match=r"1 of 1 clip loads failed, more than max_fail_fraction=0.4"):
        dataset[0]


def test_mp4_through_the_fallback_backend(data, monkeypatch):
    def missing(path):
        raise ImportError("No module named 'decord'")

    monkeypatch.setitem(video_io._READERS, "decord", missing)
    dataset = FinetuneDataset(annotation(data, ["mp4" + "1"]), "val", num_classes=4)
    video, label = dataset[0]
    assert label == 1 and dataset.failures.count == 0
    red = video[:, 80, 80, 0].float()
    torch.testing.assert_close(red, torch.full((16,), 40.0), atol=6, rtol=0)


def test_workers_share_the_failure_count(data):
    dataset = FinetuneDataset(annotation(data, ["corrupt"] + GOOD), "train", num_classes=4, max_fail_fraction=0.5)
    loader = DataLoader(dataset, batch_size=3, num_workers=2)
    labels = torch.cat([label for _, label, _ in loader])
    assert len(labels) == 9 and dataset.failures.count == 1 and dataset.failures.loads == 10
