"""The main face of a video, one square box per frame, from per-frame detections.

Detections are linked across frames by IoU; the main track is the one with the largest summed box side
(long and large wins over brief or small). Gaps of at most `max_gap` frames inside the track are bridged by
linear interpolation; past its first and last detection and into longer gaps, the box is held for at most
`max_gap` frames. Every other frame is reported missing, never guessed: footage without a face gives no box. Box
centre and side are smoothed by a moving average, then the box is squared and widened by `margin`.
"""

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from preprocess.face_detect import FaceDetector

DETECTED, BRIDGED, MISSING = "detected", "bridged", "missing"
NO_FACES = np.zeros((0, 5), np.float32)


@dataclass
class FaceTrack:
    boxes: np.ndarray  # (T, 4) float32 square [x1, y1, x2, y2] in frame pixels, NaN where missing
    status: np.ndarray  # (T,) str: detected | bridged | missing

    @property
    def found(self) -> np.ndarray:
        """(T,) bool: frames with a box."""
        return self.status != MISSING

    def counts(self) -> dict[str, int]:
        return {s: int((self.status == s).sum()) for s in (DETECTED, BRIDGED, MISSING)}


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one [x1, y1, x2, y2] box with (N, 4) boxes -> (N,)."""
    lo, hi = np.maximum(box[:2], boxes[:, :2]), np.minimum(box[2:4], boxes[:, 2:4])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    area = np.prod(box[2:4] - box[:2])
    areas = np.prod(boxes[:, 2:4] - boxes[:, :2], axis=1)
    return inter / np.maximum(area + areas - inter, 1e-9)


def link_detections(detections: list[np.ndarray], min_iou: float = 0.2) -> list[dict[int, np.ndarray]]:
    """Greedy IoU linking: each detection, best score first, joins the track whose latest box it overlaps
    most (IoU >= min_iou, one detection per track and frame), or starts a new track. Returns
    {frame: [x1, y1, x2, y2, score]} per track."""
    tracks: list[dict[int, np.ndarray]] = []
    latest = np.zeros((0, 4))  # (len(tracks), 4) latest box of each track
    for t, dets in enumerate(detections):
        free = np.ones(len(tracks), bool)
        for det in dets[np.argsort(-dets[:, 4])]:
            overlap = np.where(free, iou(det, latest), 0.0)
            best = int(np.argmax(overlap)) if len(overlap) else -1
            if best >= 0 and overlap[best] >= min_iou:
                tracks[best][t] = det
                free[best] = False
            else:
                tracks.append({t: det})
        if len(dets):
            latest = np.array([tr[next(reversed(tr))][:4] for tr in tracks]).reshape(-1, 4)  # last key = latest
    return tracks


def moving_average(x: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average along axis 0 of (n, C), edges padded by repetition."""
    half = min(window // 2, len(x) - 1)
    if half <= 0:
        return x
    padded = np.concatenate([np.repeat(x[:1], half, 0), x, np.repeat(x[-1:], half, 0)])
    kernel = np.ones(2 * half + 1) / (2 * half + 1)
    return np.stack([np.convolve(padded[:, c], kernel, mode="valid") for c in range(x.shape[1])], axis=1)


def box_geometry(boxes: np.ndarray) -> np.ndarray:
    """(K, 4+) [x1, y1, x2, y2, ...] boxes -> (K, 3) centre x, centre y and longer side."""
    x1, y1, x2, y2 = boxes[:, :4].T
    return np.stack([(x1 + x2) / 2, (y1 + y2) / 2, np.maximum(x2 - x1, y2 - y1)], axis=1)


def square_boxes(geometry: np.ndarray, found: np.ndarray, margin: float, smooth: int) -> np.ndarray:
    """(T, 3) centre x, centre y, side and (T,) found -> (T, 4) float32 square boxes of side (1 + margin) x side,
    centre and side smoothed by a moving average inside each run of found frames; NaN elsewhere."""
    boxes = np.full((len(found), 4), np.nan, np.float32)
    for start, stop in segments(found):
        cx, cy, side = moving_average(geometry[start:stop], smooth).T
        half = side * (1 + margin) / 2
        boxes[start:stop] = np.stack([cx - half, cy - half, cx + half, cy + half], axis=1)
    return boxes


def segments(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(edges[::2], edges[1::2], strict=True))


def track_faces(
    detections: list[np.ndarray],
    margin: float = 0.3,
    max_gap: int = 15,
    smooth: int = 5,
    min_iou: float = 0.2,
    min_detections: int = 3,
) -> FaceTrack:
    """Per-frame (N_t, 5) detections -> the main face track. The square side is (1 + margin) times the
    longer side of the detected box; tracks with fewer than `min_detections` detections are ignored."""
    n = len(detections)
    status = np.full(n, MISSING, dtype="<U8")
    boxes = np.full((n, 4), np.nan, np.float32)
    tracks = [tr for tr in link_detections(detections, min_iou) if len(tr) >= min_detections]
    if not tracks:
        return FaceTrack(boxes, status)
    main = max(tracks, key=lambda tr: sum(max(b[2] - b[0], b[3] - b[1]) for b in tr.values()))
    seen = np.array(sorted(main))
    geom = box_geometry(np.stack([main[t] for t in seen]))  # (K, 3)

    # (T, 3) centre x, centre y, side: interpolated across short gaps, held for max_gap frames past a detection.
    frames = np.arange(n)
    full = np.stack([np.interp(frames, seen, geom[:, c]) for c in range(3)], axis=1)
    status[seen] = DETECTED
    status[max(0, seen[0] - max_gap) : seen[0]] = BRIDGED
    status[seen[-1] + 1 : seen[-1] + 1 + max_gap] = BRIDGED
    for k, (a, b) in enumerate(zip(seen[:-1], seen[1:], strict=True)):
        if b - a - 1 <= max_gap:
            status[a + 1 : b] = BRIDGED
        else:
            status[a + 1 : a + 1 + max_gap] = status[b - max_gap : b] = BRIDGED
            full[a + 1 : a + 1 + max_gap], full[b - max_gap : b] = geom[k], geom[k + 1]
    return FaceTrack(square_boxes(full, status != MISSING, margin, smooth), status)


def detect_and_track(
    frames: Iterable[np.ndarray | None], detector: FaceDetector, detect_every: int = 1, chunk: int = 32, **track_options
) -> FaceTrack:
    """(H, W, 3) uint8 RGB frames, one at a time, -> the main face track (options as `track_faces`).

    detect_every k runs the detector on frames 0, k, 2k, ... only (the others may be None); the track bridges
    the frames between (max_gap is raised to at least k - 1), which cuts the detection time about k-fold. The
    detector sees `chunk` frames at a time, so memory holds a chunk, not the video.
    """
    if detect_every < 1:
        raise ValueError(f"detect_every must be at least 1, got {detect_every}")
    detections, batch = [], {}  # batch: frame index -> frame waiting for the detector
    for t, frame in enumerate(frames):
        detections.append(NO_FACES)
        if t % detect_every == 0:
            batch[t] = frame
        if len(batch) == chunk:
            _detect(detector, batch, detections)
    _detect(detector, batch, detections)
    if detect_every > 1:
        track_options["max_gap"] = max(track_options.get("max_gap", 15), detect_every - 1)
    return track_faces(detections, **track_options)


def _detect(detector: FaceDetector, batch: dict[int, np.ndarray], detections: list[np.ndarray]) -> None:
    if batch:
        for t, found in zip(batch, detector.detect(np.stack(list(batch.values()))), strict=True):
            detections[t] = found
        batch.clear()


def whole_frame_track(num_frames: int, height: int, width: int) -> FaceTrack:
    """For footage that is already a face crop (DFEW, FERV39k and the generated set ship such clips): the
    centred square of side min(H, W) in every frame, no detection."""
    side = min(height, width)
    top, left = (height - side) / 2, (width - side) / 2
    boxes = np.tile(np.array([left, top, left + side, top + side], np.float32), (num_frames, 1))
    return FaceTrack(boxes, np.full(num_frames, DETECTED))
