import numpy as np
import pytest

from datasets.masking import (
    MaskError,
    PartWindowMasking,
    check_lgi_mask,
    check_lgi_masking,
    make_mask_generator,
)


@pytest.fixture(autouse=True)
def seed():
    np.random.seed(0)


def test_part_window_counts():
    generate = make_mask_generator("part_window", (8, 10, 10), 0.9, (5, 10))
    for _ in range(50):
        mask = generate()
        assert mask.shape == (800,) and mask.dtype == bool
        assert mask.sum() == 720
        grid = mask.reshape(8, 10, 10)  # raster (t, h, w)
        assert (grid == grid[0]).all()  # a tube: the same frame mask in every temporal slice
        visible = (~grid).reshape(8, 2, 5, 10).sum(axis=(2, 3))  # per slice, per 5x10 window
        assert (visible == 5).all()


def test_part_window_masks_differ_and_cover_every_position():
    generate = make_mask_generator("part_window")
    masks = np.stack([generate() for _ in range(2000)])
    assert len({m.tobytes() for m in masks}) == len(masks)
    frequency = (~masks[:, :100]).mean(axis=0)  # each position is visible 5 / 50 of the time
    assert np.abs(frequency - 0.1).max() < 0.04


def test_part_window_smaller_windows():
    mask = make_mask_generator("part_window", (8, 10, 10), 0.9, (5, 5))()
    visible = (~mask.reshape(8, 2, 5, 2, 5)).sum(axis=(2, 4))
    assert (visible == 3).all()  # int(0.9 * 25) = 22 masked of 25 per window


def test_masked_count_survives_float_error():
    assert PartWindowMasking(mask_ratio=0.58).masked_per_window == 29  # 0.58 * 50 = 28.999999999999996


def test_tube_and_random():
    tube = make_mask_generator("tube")()
    assert tube.sum() == 720 and (tube.reshape(8, 100) == tube[:100]).all()
    random = make_mask_generator("random")()
    assert random.sum() == 720 and not (random.reshape(8, 100) == random[:100]).all()


@pytest.mark.parametrize(
    "args, message",
    [
        (("part_window", (8, 10, 10), 0.9, (3, 10)), "do not tile"),
        (("part_window", (8, 10, 10), 1 - 1e-8, (5, 10)), "leave a visible token of 50"),
        (("tube", (8, 10, 10), 1.0), r"mask_ratio must be in \[0, 1\)"),
        (("random", (8, 10, 10), -0.1), r"mask_ratio must be in \[0, 1\)"),
        (("blocks",), "unknown mask_type"),
    ],
)
def test_bad_configurations(args, message):
    with pytest.raises(MaskError, match=message):
        make_mask_generator(*args)


def test_lgi_accepts_part_window_only():
    check_lgi_masking("part_window", (8, 10, 10), (5, 10), (2, 5, 10))
    check_lgi_masking("part_window", (8, 10, 10), (5, 5), (2, 5, 10))
    for mask_type in ("tube", "random"):
        with pytest.raises(MaskError, match="use mask_type='part_window'"):
            check_lgi_masking(mask_type)
    with pytest.raises(MaskError, match="straddle"):
        check_lgi_masking("part_window", (8, 10, 10), (10, 10), (2, 5, 10))


def test_check_lgi_mask():
    generate = make_mask_generator("part_window")
    assert check_lgi_mask(np.stack([generate() for _ in range(4)])) == 10  # 2 slices x 5 visible
    uneven = np.ones((8, 10, 10), bool)
    uneven[:, 0, :10] = False  # 10 visible tokens per slice, all in the top window
    with pytest.raises(MaskError, match="0 to 20 visible tokens per 2x5x10 region"):
        check_lgi_mask(uneven.reshape(-1))
