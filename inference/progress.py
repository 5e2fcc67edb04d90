"""Progress of a long recognition: what the Python API hands its `progress` callback, and the demo's display.

A recognition reads the video twice: "finding faces" (decoding, shot cuts, the detector) and "classifying"
(cropping, the model, the annotated video). The callback gets a `Progress` about once per 25 frames of each
pass and once at its end.
"""

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

REPORT_EVERY = 25  # frames between two calls of the callback


@dataclass
class Progress:
    stage: str  # "finding faces" (first pass) or "classifying" (second pass)
    frames: int  # frames read in this pass
    total: int | None  # frames in the video, None while unknown
    faces: int  # faces detected so far (first pass), persons (second pass)
    windows: int  # windows classified so far (second pass)
    elapsed: float  # seconds since this pass began

    @property
    def seconds_left(self) -> float | None:
        """This pass's time left at its pace so far; None when the total is unknown."""
        if not self.total or not self.frames:
            return None
        return self.elapsed * max(self.total - self.frames, 0) / self.frames

    def line(self) -> str:
        total = f"/{self.total} frames ({100 * self.frames / self.total:.0f}%)" if self.total else " frames"
        found = f"{self.faces} faces" if self.stage == "finding faces" else f"{self.windows} windows classified"
        left = self.seconds_left
        left = f", about {_clock(left)} left" if left is not None else ""
        return f"{self.stage}: {self.frames}{total}, {found}, {_clock(self.elapsed)} elapsed{left}"


def _clock(seconds: float) -> str:
    minutes, second = divmod(round(seconds), 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours}:{minute:02d}:{second:02d}" if hours else f"{minute}:{second:02d}"


def reporting(
    frames: Iterable, stage: str, total: int | None, counts: Callable[[], tuple[int, int]], callback
) -> Iterator:
    """The frames as they come; `callback(Progress)` every REPORT_EVERY of them and at the end (when the `total`-th
    frame is handed on, or when the frames run out), with `counts()` -> (faces, windows) at that moment.
    Without a callback, the frames unchanged."""
    if callback is None:
        yield from frames
        return
    start, count, reported = time.perf_counter(), 0, 0
    for count, frame in enumerate(frames, 1):
        if count % REPORT_EVERY == 0 or count == total:
            callback(Progress(stage, count, total, *counts(), time.perf_counter() - start))
            reported = count
        yield frame
    if count != reported:
        callback(Progress(stage, count, count, *counts(), time.perf_counter() - start))


class ProgressDisplay:
    """The demo's `progress` callback: a bar per pass on a terminal (tqdm, with the time left), else a line at
    most every `interval` seconds (a log file), and the pass's last line when it printed any."""

    def __init__(self, interval: float = 30.0, stream=None):
        self.stream = stream or sys.stderr
        self.interval, self.terminal = interval, self.stream.isatty()
        self.stage, self.bar, self.last_print, self.printed = None, None, 0.0, False

    def __call__(self, progress: Progress) -> None:
        if progress.stage != self.stage:
            self.close()
            self.stage, self.last_print = progress.stage, time.perf_counter()
            self.printed = False
        if self.terminal:
            self._bar(progress)
        elif time.perf_counter() - self.last_print >= self.interval or (self.printed and self._done(progress)):
            print(progress.line(), file=self.stream, flush=True)
            self.last_print, self.printed = time.perf_counter(), True

    @staticmethod
    def _done(progress: Progress) -> bool:
        return progress.total is not None and progress.frames >= progress.total

    def _bar(self, progress: Progress) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=progress.total, desc=progress.stage, unit="frame", file=self.stream, leave=False)
        self.bar.total = progress.total
        self.bar.update(progress.frames - self.bar.n)
        if progress.stage == "finding faces":
            self.bar.set_postfix(faces=progress.faces, refresh=False)
        else:
            self.bar.set_postfix(windows=progress.windows, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
