"""Main face track from per-frame detections: linking, choice of the main face, bridging, smoothing."""

import numpy as np
import pytest

from preprocess.face_track import BRIDGED, DETECTED, MISSING, detect_and_track, iou, link_detections, track_faces

NONE = np.zeros((0, 5), np.float32)


def box(cx, cy, side, score=1.0):
    return np.array([[cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2, score]], np.float32)


def test_iou():
    a = np.array([0, 0, 10, 10], np.float32)
    others = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], np.float32)
    np.testing.assert_allclose(iou(a, others), [1.0, 50 / 150, 0.0])


def test_steady_face_is_squared_with_margin():
    dets = [box(100, 80, 40) for _ in range(10)]
    dets[0][0, 2] += 10  # a wider box: the square takes its longer side
    track = track_faces(dets, margin=0.5, smooth=1)
    assert (track.status == DETECTED).all()
    sides = track.boxes[:, 2] - track.boxes[:, 0]
    np.testing.assert_allclose(sides[1:], 60.0, rtol=1e-5)
    np.testing.assert_allclose(sides[0], 75.0, rtol=1e-5)
    np.testing.assert_allclose(track.boxes[:, 3] - track.boxes[:, 1], sides, rtol=1e-5)


def test_short_gaps_are_bridged_by_interpolation_and_long_gaps_stay_missing():
    dets = [box(100 + 2 * min(t, 12), 80, 40) for t in range(30)]  # moves, then stands still
    for t in (5, 6, 7):  # a 3-frame gap
        dets[t] = NONE
    for t in range(12, 25):  # a 13-frame gap
        dets[t] = NONE
    track = track_faces(dets, max_gap=4, smooth=1, margin=0.0)
    assert list(track.status[4:9]) == [DETECTED, BRIDGED, BRIDGED, BRIDGED, DETECTED]
    # the long gap: held for max_gap frames after the last and before the next detection, missing between
    assert list(track.status[12:25]) == [BRIDGED] * 4 + [MISSING] * 5 + [BRIDGED] * 4
    centre = (track.boxes[6, 0] + track.boxes[6, 2]) / 2
    np.testing.assert_allclose(centre, 112.0, rtol=1e-5)  # interpolated between frames 4 and 8
    assert np.isnan(track.boxes[track.status == MISSING]).all()
    assert track.counts() == {DETECTED: 14, BRIDGED: 11, MISSING: 5}


def test_track_is_held_at_most_max_gap_frames_past_its_ends():
    dets = [NONE] * 10 + [box(50, 50, 20)] * 5 + [NONE] * 10
    track = track_faces(dets, max_gap=3)
    assert list(track.status) == [MISSING] * 7 + [BRIDGED] * 3 + [DETECTED] * 5 + [BRIDGED] * 3 + [MISSING] * 7


def test_no_detections_and_sporadic_false_positives_give_no_face():
    assert (track_faces([NONE] * 20).status == MISSING).all()
    rng = np.random.default_rng(0)
    scattered = [box(*rng.uniform(20, 300, 2), 30) if t % 4 == 0 else NONE for t in range(40)]
    track = track_faces(scattered, min_detections=3)
    assert not track.found.any()
    assert np.isnan(track.boxes).all()


def test_main_face_is_the_long_and_large_one():
    big = [box(200, 100, 80) if t < 16 else NONE for t in range(20)]  # large, in 16 of 20 frames
    small = [box(40, 40, 20) for _ in range(20)]  # small, in all frames
    dets = [np.concatenate([b, s]) for b, s in zip(big, small, strict=True)]
    track = track_faces(dets, max_gap=2, margin=0.0, smooth=1)
    found = track.found
    assert found[:18].all() and not found[18:].any()
    np.testing.assert_allclose((track.boxes[:16, 0] + track.boxes[:16, 2]) / 2, 200.0)


def test_linking_keeps_two_faces_apart():
    dets = [np.concatenate([box(50 + t, 50, 30), box(200 - t, 60, 30, score=0.9)]) for t in range(8)]
    tracks = link_detections(dets)
    assert len(tracks) == 2 and all(len(tr) == 8 for tr in tracks)
    assert all(abs(tr[7][0] - tr[0][0]) == 7 for tr in tracks)


def test_smoothing_reduces_jitter():
    rng = np.random.default_rng(1)
    dets = [box(100 + rng.normal(0, 3), 80 + rng.normal(0, 3), 40) for _ in range(60)]
    raw = track_faces(dets, smooth=1)
    smooth = track_faces(dets, smooth=7)
    assert (raw.status == DETECTED).all() and (smooth.status == DETECTED).all()
    assert np.std(smooth.boxes[:, 0]) < 0.6 * np.std(raw.boxes[:, 0])


class CountingDetector:
    """A face at (60, 50) in every frame it is shown; remembers how many frames it saw."""

    def __init__(self):
        self.seen = 0

    def detect(self, frames):
        self.seen += len(frames)
        return [box(60, 50, 30) for _ in frames]


def test_detect_every_kth_frame_and_bridge_the_rest():
    frames = np.zeros((23, 100, 120, 3), np.uint8)
    detector = CountingDetector()
    track = detect_and_track(frames, detector, detect_every=5, smooth=1)
    assert detector.seen == 5  # frames 0, 5, 10, 15, 20
    assert list(np.flatnonzero(track.status == DETECTED)) == [0, 5, 10, 15, 20]
    assert track.found.all() and track.counts() == {DETECTED: 5, BRIDGED: 18, MISSING: 0}
    every = detect_and_track(frames, CountingDetector(), smooth=1)
    np.testing.assert_allclose(track.boxes, every.boxes)
    with pytest.raises(ValueError, match="detect_every must be at least 1"):
        detect_and_track(frames, detector, detect_every=0)


class ContentDetector:
    """A face whose centre x is the frame's first pixel value; remembers the batch sizes it is given."""

    def __init__(self):
        self.batches = []

    def detect(self, frames):
        self.batches.append(len(frames))
        return [box(40 + float(f[0, 0, 0]), 50, 30) for f in frames]


def test_a_stream_detected_in_chunks_equals_the_whole_video_at_once():
    frames = np.zeros((23, 100, 120, 3), np.uint8)
    frames[:, 0, 0, 0] = np.arange(23) * 2  # the face moves 2 px a frame
    whole = detect_and_track(frames, ContentDetector(), detect_every=2, chunk=100)
    chunked = ContentDetector()
    stream = (frame if t % 2 == 0 else None for t, frame in enumerate(frames))  # skipped frames need not be decoded
    streamed = detect_and_track(stream, chunked, detect_every=2, chunk=3)
    assert chunked.batches == [3, 3, 3, 3]  # frames 0, 2, ..., 22
    np.testing.assert_array_equal(streamed.boxes, whole.boxes)
    np.testing.assert_array_equal(streamed.status, whole.status)
    assert not np.isnan(streamed.boxes).any()
