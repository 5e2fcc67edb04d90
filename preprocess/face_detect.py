"""Face detectors behind one small interface, all offline: frames in, boxes with scores out.

A detector takes RGB frames (T, H, W, 3) uint8 and returns, per frame, an (N, 5) float32 array of
[x1, y1, x2, y2, score] in the input's pixel coordinates (N = 0 when it finds no face). Frames are shrunk
to at most `max_side` pixels before detection, which sets the speed; boxes are scaled back.

- `mtcnn`: facenet-pytorch's MTCNN, weights inside its wheel. Finds frontal and tilted faces.
- `haar`: OpenCV's bundled frontal-face Haar cascade (opencv-python 4.x wheels). Faster, misses tilted
  and open-mouth faces; its score is the cascade's level weight.
"""

from typing import Protocol

import cv2
import numpy as np

MTCNN_INSTALL = "pip install requests && pip install --no-deps facenet-pytorch==2.6.0"


class FaceDetector(Protocol):
    name: str

    def detect(self, frames: np.ndarray) -> list[np.ndarray]:
        """(T, H, W, 3) uint8 RGB -> T arrays (N_t, 5) of [x1, y1, x2, y2, score]."""
        ...


def shrink(frames: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Resize (T, H, W, 3) frames so that the longer side is at most max_side; returns (frames, scale)."""
    h, w = frames.shape[1:3]
    scale = min(1.0, max_side / max(h, w))
    if scale == 1.0:
        return frames, 1.0
    size = (round(w * scale), round(h * scale))
    return np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]), scale


class HaarDetector:
    name = "haar"

    def __init__(self, max_side: int = 320, min_score: float = 2.0, min_face: int = 24, min_neighbors: int = 5):
        folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
        self.cascade = cv2.CascadeClassifier(folder + "haarcascade_frontalface_default.xml") if folder else None
        if self.cascade is None or self.cascade.empty():
            raise RuntimeError(
                "this OpenCV build ships no Haar cascades (opencv-python 4.x wheels do); use --detector mtcnn"
            )
        self.max_side, self.min_score, self.min_face, self.min_neighbors = max_side, min_score, min_face, min_neighbors

    def detect(self, frames: np.ndarray) -> list[np.ndarray]:
        small, scale = shrink(frames, self.max_side)
        out = []
        for frame in small:
            gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
            rects, _, weights = self.cascade.detectMultiScale3(
                gray, 1.1, self.min_neighbors, minSize=(self.min_face, self.min_face), outputRejectLevels=True
            )
            boxes = np.zeros((0, 5), np.float32)
            if len(rects):
                xywh = np.asarray(rects, np.float32).reshape(-1, 4)
                score = np.asarray(weights, np.float32).reshape(-1, 1)
                boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:], score], axis=1)
                boxes = boxes[boxes[:, 4] >= self.min_score]
            boxes[:, :4] /= scale
            out.append(boxes)
        return out


class MTCNNDetector:
    name = "mtcnn"

    def __init__(
        self,
        max_side: int = 320,
        min_score: float = 0.95,
        min_face: int = 20,
        batch_size: int = 32,
        device: str = "cpu",
    ):
        try:
            from facenet_pytorch import MTCNN
        except ImportError as e:
            raise ImportError(f"the mtcnn detector needs facenet-pytorch: {MTCNN_INSTALL}") from e
        self.mtcnn = MTCNN(keep_all=True, min_face_size=min_face, device=device)
        self.max_side, self.min_score, self.batch_size = max_side, min_score, batch_size

    def detect(self, frames: np.ndarray) -> list[np.ndarray]:
        small, scale = shrink(frames, self.max_side)
        out = []
        for start in range(0, len(small), self.batch_size):
            # With numpy 2 facenet-pytorch returns object arrays: None or (N, 4) boxes and (N,) probs per frame.
            boxes, probs = self.mtcnn.detect(small[start : start + self.batch_size])
            for b, p in zip(boxes, probs, strict=True):
                if b is None:
                    out.append(np.zeros((0, 5), np.float32))
                    continue
                found = np.concatenate(
                    [np.asarray(b, np.float32).reshape(-1, 4) / scale, np.asarray(p, np.float32).reshape(-1, 1)],
                    axis=1,
                )
                out.append(found[found[:, 4] >= self.min_score])
        return out


DETECTORS = {"mtcnn": MTCNNDetector, "haar": HaarDetector}


def mtcnn_available() -> bool:
    try:
        import facenet_pytorch  # noqa: F401
    except ImportError:
        return False
    return True


def build_detector(name: str = "auto", **kwargs) -> FaceDetector:
    """'auto' picks MTCNN when facenet-pytorch is installed, else the Haar cascade."""
    if name == "auto":
        name = "mtcnn" if mtcnn_available() else "haar"
    if name not in DETECTORS:
        raise ValueError(f"unknown face detector {name!r}; known: auto, {', '.join(DETECTORS)}")
    return DETECTORS[name](**kwargs)
