"""Clip indices against upstream's rules (SPEC c.2, c.3), with expected values written out by hand."""

import numpy as np
import pytest

from datasets import sampling
from datasets.sampling import center_indices, pretrain_indices, train_indices

# linspace(0, 64, 16) truncated, last clipped to 63: the offsets of a 16-frame window spanning 64 frames.
WINDOW_64 = [0, 4, 8, 12, 17, 21, 25, 29, 34, 38, 42, 46, 51, 55, 59, 63]


@pytest.fixture(autouse=True)
def seed():
    np.random.seed(0)


@pytest.mark.parametrize(
    "num_frames, expected",
    [
        (30, [0, 5, 10, 15, 20, 25, 29] + [29] * 9),  # linspace(0, 30, 7), padded with 30 -> 29
        (64, WINDOW_64),  # exactly one span
        (3, [2] * 16),  # fewer frames than the stride: 3 // 4 = 0 spread frames, all padding
        (9, [0, 8] + [8] * 14),  # linspace(0, 9, 2) = [0, 9] -> [0, 8]
    ],
)
def test_train_short_video(num_frames, expected):
    assert train_indices(num_frames, 16, 4).tolist() == expected


def test_train_long_video_window_ends_anywhere_in_span_to_l_minus_1():
    starts = set()
    for _ in range(3000):
        indices = train_indices(100, 16, 4)
        start = indices[0]
        assert (indices - start).tolist() == WINDOW_64
        starts.add(int(start))
    assert starts == set(range(0, 100 - 64))  # end ~ U{64, ..., 99}, start = end - 64


def test_train_stride_one():
    indices = train_indices(40, 16, 1)  # FERV39k's rate: span 16 < 40 frames
    assert (np.diff(indices) == 1).all() and 0 <= indices[0] <= 40 - 16 - 1


def test_center_is_deterministic_and_centred():
    assert center_indices(100, 16, 4).tolist() == [18 + i for i in WINDOW_64]  # start (100 - 64) // 2
    assert center_indices(30, 16, 4).tolist() == train_indices(30, 16, 4).tolist()


def test_pretrain_long_video():
    starts = set()
    for _ in range(3000):
        indices = pretrain_indices(100, 16, 4)
        assert (np.diff(indices) == 4).all()
        starts.add(int(indices[0]))
    assert starts == set(range(0, 100 - 64 + 1))  # start ~ U{0, ..., L - 64}
    assert pretrain_indices(64, 16, 4).tolist() == list(range(0, 64, 4))


@pytest.mark.parametrize(
    "num_frames, expected",
    [
        (30, [0, 4, 8, 12, 16, 20, 24, 28] + [28] * 8),  # 1-based offset 25 + 4 < 30: still advances to 28
        (29, [0, 4, 8, 12, 16, 20, 24] + [24] * 9),  # 25 + 4 < 29 fails: frame 28 is never reached
        (5, [0] * 16),
    ],
)
def test_pretrain_short_video_repeats_last_reachable_frame(num_frames, expected):
    assert pretrain_indices(num_frames, 16, 4).tolist() == expected


def test_test_views_first_and_last_clip():
    views = sampling.test_indices(100, 16, 4, num_segments=2)  # 25 strided frames 0..96
    assert views.tolist() == [list(range(0, 64, 4)), list(range(36, 100, 4))]


def test_test_views_short_video_padded():
    views = sampling.test_indices(30, 16, 4, num_segments=2)  # 8 strided frames, padded with the last to 16
    assert views.tolist() == [[0, 4, 8, 12, 16, 20, 24, 28] + [28] * 8] * 2


def test_test_views_three_segments_and_one():
    views = sampling.test_indices(100, 16, 4, num_segments=3)  # starts int(k * 9 / 2) = 0, 4, 9 strided frames
    assert views[:, 0].tolist() == [0, 16, 36]
    assert sampling.test_indices(100, 16, 4, num_segments=1)[:, 0].tolist() == [16]  # middle: (25 - 16) // 2 = 4
