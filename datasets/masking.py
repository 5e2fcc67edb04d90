"""Token masks for MAE pretraining: a bool array of N = t * h * w tokens in raster (t, h, w) order, True = masked.

- part_window: the frame's token grid is cut into windows (5 x 10 for the LGI-Former); each window masks
  the same number of tokens, chosen uniformly, and the frame mask is repeated over all t slices (tube).
  Every window of every slice keeps the same number of visible tokens, which is what the LGI encoder
  needs to regroup the visible tokens by region. Upstream's default: 720 of 800 masked, 5 visible per window.
- tube: one random frame mask repeated over the t slices (VideoMAE).
- random: any int(ratio * N) tokens.
Counts are int(ratio * size), with a 1e-6 margin so 0.9 * 50 cannot truncate to 44 through float error.
"""

import numpy as np


class MaskError(ValueError):
    pass


def _num_masked(ratio, size):
    num_masked = int(ratio * size + 1e-6)
    if not 0 <= ratio < 1 or num_masked == size:
        raise MaskError(f"mask_ratio must be in [0, 1) and leave a visible token of {size}, got {ratio}")
    return num_masked


def _random_rows(rows, size, num_masked):
    """(rows, size) bool, exactly num_masked True per row, positions uniform."""
    ranks = np.argsort(np.random.random_sample((rows, size)), axis=1)
    return ranks < num_masked


class PartWindowMasking:
    def __init__(self, grid_size=(8, 10, 10), mask_ratio=0.9, window_size=(5, 10)):
        t, h, w = grid_size
        wh, ww = window_size
        if h % wh or w % ww:
            raise MaskError(f"windows {wh}x{ww} do not tile the {h}x{w} token grid")
        self.grid_size, self.window_size = (t, h, w), (wh, ww)
        self.num_windows = (h // wh) * (w // ww)
        self.masked_per_window = _num_masked(mask_ratio, wh * ww)

    @property
    def num_masked(self):
        return self.masked_per_window * self.num_windows * self.grid_size[0]

    def __call__(self):
        t, h, w = self.grid_size
        wh, ww = self.window_size
        windows = _random_rows(self.num_windows, wh * ww, self.masked_per_window)
        frame = windows.reshape(h // wh, w // ww, wh, ww).transpose(0, 2, 1, 3).reshape(h * w)
        return np.tile(frame, t)  # (t * h * w,)


class TubeMasking:
    def __init__(self, grid_size=(8, 10, 10), mask_ratio=0.9):
        t, h, w = grid_size
        self.grid_size = (t, h, w)
        self.num_masked_per_frame = _num_masked(mask_ratio, h * w)

    @property
    def num_masked(self):
        return self.num_masked_per_frame * self.grid_size[0]

    def __call__(self):
        t, h, w = self.grid_size
        return np.tile(_random_rows(1, h * w, self.num_masked_per_frame)[0], t)


class RandomMasking:
    def __init__(self, grid_size=(8, 10, 10), mask_ratio=0.9):
        self.num_tokens = int(np.prod(grid_size))
        self.num_masked = _num_masked(mask_ratio, self.num_tokens)

    def __call__(self):
        return _random_rows(1, self.num_tokens, self.num_masked)[0]


def make_mask_generator(mask_type, grid_size=(8, 10, 10), mask_ratio=0.9, window_size=(5, 10)):
    """A callable returning a fresh (N,) bool mask per call, N = prod(grid_size), True = masked."""
    if mask_type == "part_window":
        return PartWindowMasking(grid_size, mask_ratio, window_size)
    if mask_type == "tube":
        return TubeMasking(grid_size, mask_ratio)
    if mask_type == "random":
        return RandomMasking(grid_size, mask_ratio)
    raise MaskError(f"unknown mask_type {mask_type!r}; use 'part_window', 'tube' or 'random'")


def check_lgi_masking(mask_type, grid_size=(8, 10, 10), window_size=(5, 10), region_size=(2, 5, 10)):
    """Raise MaskError unless every LGI region of every mask keeps the same number of visible tokens.

    That holds for part_window masks whose windows tile each region (region h, w multiples of the window's)
    and whose regions tile the grid; tube and random masks leave uneven counts.
    """
    rt, rh, rw = region_size
    t, h, w = grid_size
    if t % rt or h % rh or w % rw:
        raise MaskError(f"LGI regions {rt}x{rh}x{rw} do not tile the {t}x{h}x{w} token grid")
    if mask_type != "part_window":
        raise MaskError(
            f"mask_type {mask_type!r} gives LGI regions different numbers of visible tokens, which the "
            "LGI encoder cannot group; use mask_type='part_window'"
        )
    wh, ww = window_size
    if rh % wh or rw % ww:
        raise MaskError(
            f"part_window windows {wh}x{ww} straddle the {rh}x{rw} LGI regions, so regions get different "
            f"numbers of visible tokens; use windows that tile a region, e.g. window_size=({rh}, {rw})"
        )


def check_lgi_mask(mask, grid_size=(8, 10, 10), region_size=(2, 5, 10)):
    """Visible tokens per LGI region of (B, N) or (N,) masks; MaskError unless equal in every region."""
    (t, h, w), (rt, rh, rw) = grid_size, region_size
    visible = ~np.asarray(mask, dtype=bool).reshape(-1, t // rt, rt, h // rh, rh, w // rw, rw)
    counts = visible.sum(axis=(2, 4, 6))  # (B, t/rt, h/rh, w/rw)
    if counts.min() != counts.max():
        raise MaskError(
            f"mask keeps {counts.min()} to {counts.max()} visible tokens per {rt}x{rh}x{rw} region; the LGI "
            "encoder needs the same count in every region (use mask_type='part_window')"
        )
    return int(counts.flat[0])
