"""Frames of a video file, a frame folder or an array, read one at a time and downscaled, as often as needed."""

import functools
from pathlib import Path

import cv2
import numpy as np

from datasets.video_io import VideoReadError, stream_frames

MAX_SIDE = 640  # frames are downscaled to this for detection, cropping and the annotated video
DEFAULT_FPS = 25.0  # frame rate of frame folders and arrays unless told


def downscale(frame, max_side=MAX_SIDE):
    """(H, W, 3) frame with its longer side shrunk to at most max_side."""
    h, w = frame.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1:
        return frame
    return cv2.resize(frame, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)


class FrameSource:
    """A video file, a frame folder or a (T, H, W, 3) uint8 RGB array, read any number of times, one frame at
    a time, downscaled. `stopped` holds why a first complete read ended early (the frames up to there count)."""

    def __init__(self, video, fps=None):
        if isinstance(video, np.ndarray):
            if video.dtype != np.uint8 or video.ndim != 4 or video.shape[-1] != 3 or not len(video):
                raise ValueError(f"frames: expected a uint8 RGB array (T, H, W, 3), got {video.dtype} {video.shape}")
        self.video, self.given_fps = video, fps
        self.name = "array" if isinstance(video, np.ndarray) else str(video)
        self.stopped = None

    @functools.cached_property
    def fps(self):
        """The given rate, else a video file's own (asked once the file is known to decode), else 25."""
        if self.given_fps or isinstance(self.video, np.ndarray) or Path(self.video).is_dir():
            return self.given_fps or DEFAULT_FPS
        return video_fps(self.video)

    @functools.cached_property
    def expected_frames(self):
        """The number of frames an array holds or a video file's header announces; None when unknown (PyAV, which
        prints nothing about a file it cannot open: decoding says why)."""
        if isinstance(self.video, np.ndarray):
            return len(self.video)
        if Path(self.video).is_dir():
            return None
        import av

        try:
            with av.open(str(self.video)) as container:
                return container.streams.video[0].frames or None
        except (av.FFmpegError, IndexError, OSError):
            return None

    def frames(self, wanted=None):
        """Every frame in order, or None where `wanted(index)` declines it; VideoReadError where decoding fails."""
        if isinstance(self.video, np.ndarray):
            wanted = wanted or (lambda index: True)
            return (downscale(frame) if wanted(t) else None for t, frame in enumerate(self.video))
        return (frame if frame is None else downscale(frame) for frame in stream_frames(self.video, wanted))

    def readable_frames(self, wanted=None):
        """As frames(), but a decoding failure after the first frame ends the frames and is kept in `stopped`."""
        count = 0
        try:
            for frame in self.frames(wanted):
                yield frame
                count += 1
        except VideoReadError as err:
            if not count:
                raise
            self.stopped = str(err)
        if not count:
            raise VideoReadError(self.name, "no frames decoded")


def video_fps(path, default=DEFAULT_FPS):
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    return fps if fps and fps > 0 else default
