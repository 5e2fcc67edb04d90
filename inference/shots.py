"""Shot cuts: where the picture changes at once, so that no face track is carried from one shot into the next.

A frame's content is a small HSV thumbnail; the score of frame t is the mean absolute difference of its
thumbnail from frame t-1's over the three channels (0-255 scale, hue 0-180 as OpenCV stores it), the content
score PySceneDetect's ContentDetector uses. Frame t starts a new shot when its score is at least `threshold`
and the current shot is at least `min_shot` frames long. Motion inside a shot (a head turning, a hand) moves a
few per cent of the thumbnail and scores a few points; a cut between two different scenes scores 30 to 100.
"""

import cv2
import numpy as np

THUMBNAIL = (48, 27)  # width, height: 16:9, small enough for about 0.1 ms a frame


def thumbnail(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (27, 48, 3) int16 HSV thumbnail."""
    small = cv2.resize(frame, THUMBNAIL, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_RGB2HSV).astype(np.int16)


class ShotCuts:
    """Fed every frame in order (`update`); `starts` lists the first frame of every shot (0 included)."""

    def __init__(self, threshold: float = 27.0, min_shot: int = 10):
        self.threshold, self.min_shot = threshold, min_shot
        self.starts, self.previous, self.count = [0], None, 0

    def update(self, frame: np.ndarray) -> None:
        current = thumbnail(frame)
        if self.previous is not None:
            score = float(np.abs(current - self.previous).mean())
            if score >= self.threshold and self.count - self.starts[-1] >= self.min_shot:
                self.starts.append(self.count)
        self.previous, self.count = current, self.count + 1

    def shot_of(self, num_frames: int) -> np.ndarray:
        """(T,) shot index of every frame."""
        shots = np.zeros(num_frames, np.int32)
        for start in self.starts[1:]:
            shots[start:] += 1
        return shots
