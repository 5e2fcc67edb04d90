"""Every person in a video: faces detected, linked into tracklets inside each shot, tracklets joined into persons.

First pass (`scan`): every frame goes to the shot-cut detector (inference/shots.py), every `detect_every`-th
frame to the face detector; each face at least `min_face` pixels high or wide gets an appearance descriptor.

Then `track_persons`:
1. Inside each shot, detections are linked by IoU into tracklets (preprocess/face_track.link_detections); a
   tracklet never crosses a cut, and one with fewer than `min_detections` detections is dropped.
2. A tracklet has a box on its detected frames and, interpolated, between two of its detections at most
   `max_gap` frames apart (a missed detection, a blink); nowhere else. Before its first and after its last
   detection, in longer gaps and across cuts its person is missing: a box is never held where no face was seen.
3. Tracklets are joined into persons by appearance: average-linkage agglomeration of their mean descriptors
   (a colour histogram of the face box), merging the closest pair while their distance is under
   `same_person`, and never two tracklets that have a box in the same frame. This joins a face that left and
   came back within a shot and the same face across cuts, as far as colour tells people apart: on footage
   where two people look alike under the same light they can be merged (their boxes stay on faces).
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import cv2
import numpy as np

from inference.progress import Progress, reporting
from inference.shots import ShotCuts
from preprocess.face_detect import FaceDetector
from preprocess.face_track import (
    BRIDGED,
    DETECTED,
    MISSING,
    NO_FACES,
    FaceTrack,
    box_geometry,
    link_detections,
    square_boxes,
)

HUE_BINS, SATURATION_BINS, VALUE_BINS = 12, 8, 8
DESCRIPTOR_SIZE = HUE_BINS * SATURATION_BINS + VALUE_BINS
NO_DESCRIPTORS = np.zeros((0, DESCRIPTOR_SIZE), np.float32)
MAX_GAP = 8  # frames bridged between two detections of a tracklet (0.32 s at 25 fps): missed detections, not absences


def appearance(frame: np.ndarray, box: np.ndarray) -> np.ndarray:
    """(D,) unit-length descriptor of the face in `box` of an RGB frame: the square roots of its hue-saturation
    and value histograms, each normalised to 1/2 (so that the distance of two is their Hellinger distance * 2**0.5)."""
    h, w = frame.shape[:2]
    x1, y1 = np.clip(np.floor(box[:2]).astype(int), 0, [w - 1, h - 1])
    x2, y2 = np.clip(np.ceil(box[2:4]).astype(int), [x1 + 1, y1 + 1], [w, h])
    hsv = cv2.cvtColor(cv2.resize(frame[y1:y2, x1:x2], (32, 32), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2HSV)
    hue_saturation = cv2.calcHist([hsv], [0, 1], None, [HUE_BINS, SATURATION_BINS], [0, 180, 0, 256]).ravel()
    value = cv2.calcHist([hsv], [2], None, [VALUE_BINS], [0, 256]).ravel()
    histogram = np.concatenate([hue_saturation / hue_saturation.sum(), value / value.sum()]) / 2
    return np.sqrt(histogram).astype(np.float32)


@dataclass
class Scan:
    """What the first pass keeps: a few bytes per frame and a descriptor per face, never the frames."""

    detections: list[np.ndarray]  # per frame (N, 5) [x1, y1, x2, y2, score]; empty where not detected
    descriptors: list[np.ndarray]  # per frame (N, D)
    shot_starts: list[int]  # first frame of every shot
    faces: int = 0  # detections kept so far

    @property
    def num_frames(self) -> int:
        return len(self.detections)


def scan(
    frames: Iterable[np.ndarray],
    detector: FaceDetector,
    detect_every: int = 1,
    min_face: int = 40,
    progress: Callable[[Progress], None] | None = None,
    total: int | None = None,
    cuts: ShotCuts | None = None,
    chunk: int = 32,
) -> Scan:
    """First pass over (H, W, 3) uint8 RGB frames, one at a time: shot cuts on every frame, faces on every
    `detect_every`-th. The detector sees at most `chunk` frames at a time, at the latest `chunk` frames after the
    first of them was read (so the faces counted in the progress lag by no more), and memory holds a chunk, not
    the video.
    `progress` gets frames read (of `total`, if known) and faces found now and then (inference/progress.py)."""
    if detect_every < 1:
        raise ValueError(f"detect_every must be at least 1, got {detect_every}")
    cuts = cuts or ShotCuts()
    result, batch = Scan([], [], cuts.starts), {}  # batch: frame index -> frame waiting for the detector
    for t, frame in enumerate(reporting(frames, "finding faces", total, lambda: (result.faces, 0), progress)):
        cuts.update(frame)
        result.detections.append(NO_FACES)
        result.descriptors.append(NO_DESCRIPTORS)
        if t % detect_every == 0:
            batch[t] = frame
        if len(batch) == chunk or (batch and t + 1 - next(iter(batch)) >= chunk):  # full, or its oldest frame due
            _detect(detector, batch, result, min_face)
    _detect(detector, batch, result, min_face)
    return result


def _detect(detector: FaceDetector, batch: dict[int, np.ndarray], result: Scan, min_face: int) -> None:
    if not batch:
        return
    for (t, frame), found in zip(batch.items(), detector.detect(np.stack(list(batch.values()))), strict=True):
        found = found[np.maximum(found[:, 2] - found[:, 0], found[:, 3] - found[:, 1]) >= min_face]
        result.detections[t] = found
        result.faces += len(found)
        result.descriptors[t] = np.stack([appearance(frame, box) for box in found]) if len(found) else NO_DESCRIPTORS
    batch.clear()


@dataclass
class Tracklet:
    """One face followed inside one shot."""

    first: int  # first and last detected frame
    last: int
    boxes: np.ndarray  # (last - first + 1, 4) square boxes, NaN where missing
    status: np.ndarray  # (last - first + 1,) detected | bridged | missing
    descriptor: np.ndarray  # (D,) mean appearance
    size: float  # summed side of its detected boxes (how much face it holds)

    def frames_with_box(self) -> np.ndarray:
        return self.first + np.flatnonzero(self.status != MISSING)


@dataclass
class Person:
    id: int  # 1, 2, ... in order of first appearance
    track: FaceTrack  # (T, 4) boxes and (T,) status over the whole video
    tracklets: list[tuple[int, int]]  # (first, last) frame of each of its tracklets
    size: float  # summed side of its detected boxes: the main person holds the most face


def make_tracklet(
    detections: dict[int, np.ndarray], descriptors: dict[int, np.ndarray], margin: float, max_gap: int, smooth: int
) -> Tracklet:
    """Tracklet from its {frame: [x1, y1, x2, y2, score]} detections and their descriptors. The square side is
    (1 + margin) times the detected box's longer side; centre and side are smoothed by a moving average."""
    seen = np.array(sorted(detections))
    first, last = int(seen[0]), int(seen[-1])
    geometry = box_geometry(np.stack([detections[t] for t in seen]))  # K, 3
    span = np.arange(first, last + 1)
    full = np.stack([np.interp(span, seen, geometry[:, c]) for c in range(3)], axis=1)  # span, 3
    status = np.full(len(span), MISSING, dtype="<U8")
    status[seen - first] = DETECTED
    for a, b in zip(seen[:-1], seen[1:], strict=True):
        if b - a - 1 <= max_gap:
            status[a + 1 - first : b - first] = BRIDGED
    boxes = square_boxes(full, status != MISSING, margin, smooth)
    descriptor = np.mean([descriptors[t] for t in seen], axis=0)
    return Tracklet(first, last, boxes, status, descriptor, float(geometry[:, 2].sum()))


def tracklets_of(
    result: Scan,
    margin: float = 0.3,
    max_gap: int = MAX_GAP,
    smooth: int = 5,
    min_iou: float = 0.2,
    min_detections: int = 3,
) -> list[Tracklet]:
    """Every tracklet of every shot, in order of first frame, then left to right."""
    tracklets = []
    bounds = [*result.shot_starts, result.num_frames]
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        numbered = [np.column_stack([d, np.arange(len(d))]) for d in result.detections[start:stop]]  # N, 6: + row
        for linked in link_detections(numbered, min_iou):
            if len(linked) < min_detections:
                continue
            detections = {start + t: det[:5] for t, det in linked.items()}
            descriptors = {start + t: result.descriptors[start + t][int(det[5])] for t, det in linked.items()}
            tracklets.append(make_tracklet(detections, descriptors, margin, max_gap, smooth))
    return sorted(tracklets, key=lambda tr: (tr.first, tr.boxes[0, 0]))


def join_tracklets(tracklets: list[Tracklet], same_person: float) -> list[list[int]]:
    """Groups of tracklet indices, one per person: average linkage on descriptor distance, closest pair first,
    while under `same_person`; two tracklets with a box in the same frame are never joined."""
    n = len(tracklets)
    if n == 0:
        return []
    descriptors = np.stack([tr.descriptor for tr in tracklets])
    distance = np.linalg.norm(descriptors[:, None] - descriptors[None], axis=-1)  # n, n
    firsts, lasts = np.array([tr.first for tr in tracklets]), np.array([tr.last for tr in tracklets])
    apart = (lasts[:, None] < firsts[None]) | (lasts[None] < firsts[:, None])  # n, n: spans apart
    for i, j in zip(*np.nonzero(np.triu(~apart, 1)), strict=True):  # spans overlap: do they share a frame?
        shared = np.intersect1d(tracklets[i].frames_with_box(), tracklets[j].frames_with_box(), assume_unique=True)
        apart[i, j] = apart[j, i] = not len(shared)
    groups = {i: [i] for i in range(n)}
    while len(groups) > 1:
        keys = list(groups)
        sub = distance[np.ix_(keys, keys)] + np.where(apart[np.ix_(keys, keys)], 0, np.inf)
        np.fill_diagonal(sub, np.inf)
        a, b = np.unravel_index(np.argmin(sub), sub.shape)
        if sub[a, b] >= same_person:
            break
        a, b = keys[a], keys[b]
        na, nb = len(groups[a]), len(groups[b])
        distance[a] = distance[:, a] = (na * distance[a] + nb * distance[b]) / (na + nb)  # Lance-Williams
        apart[a] = apart[:, a] = apart[a] & apart[b]
        groups[a] += groups.pop(b)
    return sorted((sorted(g) for g in groups.values()), key=lambda g: tracklets[g[0]].first)


def track_persons(result: Scan, same_person: float = 0.35, **tracklet_options) -> list[Person]:
    """Every person of a scanned video, in order of first appearance, then left to right (options as
    `tracklets_of`)."""
    tracklets = tracklets_of(result, **tracklet_options)
    persons = []
    for number, group in enumerate(join_tracklets(tracklets, same_person), 1):
        boxes = np.full((result.num_frames, 4), np.nan, np.float32)
        status = np.full(result.num_frames, MISSING, dtype="<U8")
        for tr in (tracklets[i] for i in group):
            own = tr.status != MISSING
            boxes[tr.first : tr.last + 1][own] = tr.boxes[own]
            status[tr.first : tr.last + 1][own] = tr.status[own]
        spans = [(tracklets[i].first, tracklets[i].last) for i in group]
        persons.append(Person(number, FaceTrack(boxes, status), spans, sum(tracklets[i].size for i in group)))
    return persons


def main_person(persons: list[Person]) -> list[Person]:
    """The person with the most face (summed box side over its detections), alone; [] without any."""
    return [max(persons, key=lambda p: p.size)] if persons else []
