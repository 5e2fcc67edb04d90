"""Face detectors, tracking and the face-crop tool on a generated talking-face video and faceless footage."""

import sys

import cv2
import numpy as np
import pytest
from sklearn.datasets import load_sample_image

from datasets.video_io import write_video
from preprocess import face_crop
from preprocess.face_detect import MTCNN_INSTALL, MTCNNDetector, build_detector, mtcnn_available
from preprocess.face_track import DETECTED, detect_and_track

H, W, T = 240, 320, 48
DETECTORS = ["haar", pytest.param("mtcnn", marks=pytest.mark.skipif(not mtcnn_available(), reason=MTCNN_INSTALL))]


def ellipse(xx, yy, x0, y0, ax, ay, angle=0.0):
    c, s = np.cos(angle), np.sin(angle)
    u, v = (c * (xx - x0) + s * (yy - y0)) / ax, (-s * (xx - x0) + c * (yy - y0)) / ay
    return u * u + v * v < 1


def render_face(t: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame t of a shaded talking face that moves, scales, tilts and opens its mouth: (H, W, 3) uint8 RGB
    and the [x1, y1, x2, y2] box of the face oval."""
    cx, cy = 160 + 40 * np.sin(t / 10), 115 + 15 * np.cos(t / 7)
    size, tilt, mouth = 55 + 10 * np.sin(t / 13), 0.2 * np.sin(t / 9), max(0.0, np.sin(t / 3))
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    img = (0.35 + 0.2 * xx[..., None] / W) * np.array([0.6, 0.7, 0.8], np.float32)

    def at(dx, dy):  # face coordinates (units of size, y down) -> pixels
        return (
            cx + size * (np.cos(tilt) * dx - np.sin(tilt) * dy),
            cy + size * (np.sin(tilt) * dx + np.cos(tilt) * dy),
        )

    def paint(dx, dy, ax, ay, color=None, scale=None, angle=0.0):
        mask = ellipse(xx, yy, *at(dx, dy), ax * size, ay * size, tilt + angle)
        img[mask] = img[mask] * scale if scale is not None else color

    paint(0, -0.35, 1.05, 1.2, color=(0.15, 0.1, 0.07))  # hair
    paint(0, 1.2, 0.45, 0.6, color=(0.68, 0.52, 0.44))  # neck
    face_x, face_y = at(0, 0.1)
    face = ellipse(xx, yy, face_x, face_y, 0.8 * size, 1.05 * size, tilt)
    shade = 1 - 0.35 * (((xx - face_x) / (0.8 * size)) ** 2 + ((yy - face_y) / (1.05 * size)) ** 2)
    img[face] = (np.array([0.92, 0.72, 0.6]) * shade[..., None])[face]
    for side in (-1, 1):
        paint(0.33 * side, -0.15, 0.22, 0.13, scale=0.75)  # eye socket
        paint(0.33 * side, -0.15, 0.16, 0.07, color=(0.95, 0.95, 0.95))
        paint(0.33 * side, -0.15, 0.065, 0.065, color=(0.2, 0.12, 0.08))
        paint(0.33 * side, -0.36, 0.2, 0.04, color=(0.2, 0.13, 0.08), angle=-0.15 * side)  # brow
    paint(0, 0.22, 0.1, 0.06, scale=0.7)  # nostrils
    paint(0, 0.55, 0.3, 0.05 + 0.15 * mouth, color=(0.55, 0.15, 0.15))
    if mouth > 0.2:
        paint(0, 0.55, 0.22, 0.12 * mouth, color=(0.15, 0.03, 0.03))
    img = cv2.GaussianBlur(img, (0, 0), 1.0) + np.random.default_rng(t).normal(0, 0.02, img.shape)
    rows, cols = np.nonzero(face)
    return (np.clip(img, 0, 1) * 255).astype(np.uint8), np.array([cols.min(), rows.min(), cols.max(), rows.max()])


@pytest.fixture(scope="module")
def talking_face() -> tuple[np.ndarray, np.ndarray]:
    frames, boxes = zip(*(render_face(t) for t in range(T)), strict=True)
    return np.stack(frames), np.stack(boxes)


def faceless(kind: str, n: int = 16) -> np.ndarray:
    """Footage without a face: noise, moving gradients, a moving skin-coloured box, a pan over flowers."""
    yy, xx = np.mgrid[0:H, 0:W]
    frames = []
    for t in range(n):
        if kind == "noise":
            frame = np.random.default_rng(t).integers(0, 256, (H, W, 3), dtype=np.uint8)
        elif kind == "gradient":
            frame = np.stack([(xx + 5 * t) % 256, (yy + 3 * t) % 256, ((xx + yy) // 2) % 256], -1).astype(np.uint8)
        elif kind == "box":
            frame = np.full((H, W, 3), 90, np.uint8)
            cv2.rectangle(frame, (20 + 5 * t, 60), (120 + 5 * t, 180), (220, 170, 140), -1)
        else:
            frame = cv2.resize(load_sample_image("flower.jpg")[20:320, 10 * t : 10 * t + 400], (W, H))
        frames.append(frame)
    return np.stack(frames)


def contains(box: np.ndarray, inner: np.ndarray) -> bool:
    return bool(box[0] <= inner[0] and box[1] <= inner[1] and box[2] >= inner[2] and box[3] >= inner[3])


@pytest.mark.parametrize("name", DETECTORS)
def test_main_face_is_found_in_every_frame_and_the_box_contains_it(name, talking_face):
    frames, faces = talking_face
    track = detect_and_track(frames, build_detector(name))
    assert track.found.all()
    assert (track.status == DETECTED).mean() >= 0.9
    for box, face in zip(track.boxes, faces, strict=True):
        assert contains(box + [-2, -2, 2, 2], face), (box, face)
        assert (box[2] - box[0]) < 2.5 * (face[2] - face[0])  # and is not much larger than the face


@pytest.mark.parametrize("kind", ["noise", "gradient", "box", "flowers"])
@pytest.mark.parametrize("name", DETECTORS)
def test_no_face_is_reported_on_faceless_footage(name, kind):
    track = detect_and_track(faceless(kind), build_detector(name))
    assert not track.found.any()
    assert np.isnan(track.boxes).all()


def test_crop_faces_centres_the_face_and_pads_outside_the_frame(talking_face):
    frames, faces = talking_face
    centre = (faces[:, :2] + faces[:, 2:]) / 2
    side = 1.3 * (faces[:, 2:] - faces[:, :2]).max(1, keepdims=True)
    boxes = np.concatenate([centre - side / 2, centre + side / 2], 1)
    crops = face_crop.crop_faces(frames, boxes, 112)
    assert crops.shape == (T, 112, 112, 3) and crops.dtype == np.uint8
    skin = crops[:, 60:70, 50:62].reshape(T, -1, 3).mean(1)  # cheeks/nose under the crop centre
    assert (skin[:, 0] > skin[:, 2] + 40).all()
    corner = face_crop.crop_face(frames[0], np.array([-50, -50, 50, 50]), 20)
    assert (corner[:9, :9] == 0).all() and corner[15:, 15:].any()


def test_face_crop_tool_writes_frame_folders_and_annotations(tmp_path, talking_face, capsys):
    frames, _ = talking_face
    videos = tmp_path / "videos"
    (videos / "day one").mkdir(parents=True)
    write_video(videos / "day one" / "talk.mp4", frames, fps=25)
    write_video(videos / "empty.mp4", faceless("gradient"), fps=25)
    (videos / "broken.avi").write_bytes(b"not a video" * 100)
    labels = tmp_path / "labels.txt"
    labels.write_text("day one/talk.mp4 angry\nempty.mp4 1\nbroken.avi 2\n")
    out = tmp_path / "faces"
    argv = ["--input", str(videos), "--out", str(out), "--labels", str(labels), "--size", "96", "--detector", "haar"]
    face_crop.main(argv)
    crops = sorted((out / "day_one" / "talk").iterdir())
    assert [p.name for p in crops] == [f"{t:06d}.jpg" for t in range(T)]
    assert cv2.imread(str(crops[0])).shape == (96, 96, 3)
    assert not (out / "empty").exists()
    assert (out / "annotations.csv").read_text() == "day_one/talk 3\n"  # angry is DFEW class 3
    printed = capsys.readouterr().out
    assert "frames/s" in printed and "no face found in 1 videos" in printed
    assert f"1 videos cannot be decoded: {videos / 'broken.avi'}" in printed

    face_crop.main(argv)  # a second run keeps what is there and tries the others again
    assert "2 videos, 16 frames" in capsys.readouterr().out
    assert len(list((out / "day_one" / "talk").iterdir())) == T


def test_detecting_every_third_frame_bridges_the_others(tmp_path, talking_face):
    frames, faces = talking_face
    write_video(tmp_path / "talk.mp4", frames, fps=25)
    config = face_crop.CropConfig(size=64, detect_every=3)
    track = face_crop.crop_video(tmp_path / "talk.mp4", tmp_path / "talk", build_detector("haar"), config)
    assert track.counts() == {"detected": T // 3, "bridged": T - T // 3, "missing": 0}
    assert len(list((tmp_path / "talk").iterdir())) == T
    assert all(contains(b + [-3, -3, 3, 3], f) for b, f in zip(track.boxes, faces, strict=True))


def test_face_crop_tool_refuses_bad_input_in_one_line(tmp_path):
    with pytest.raises(SystemExit, match="no such file or folder") as err:
        face_crop.main(["--input", str(tmp_path / "nothing"), "--out", str(tmp_path / "out")])
    assert "\n" not in str(err.value)
    write_video(tmp_path / "a.mp4", faceless("box", 4))
    labels = tmp_path / "labels.txt"
    argv = ["--input", str(tmp_path), "--out", str(tmp_path / "o"), "--labels", str(labels)]
    labels.write_text("b.mp4 happy\n")
    with pytest.raises(SystemExit, match=r"labels.txt: no label for these videos: a.mp4$"):
        face_crop.main(argv)
    labels.write_text("a.mp4 bored\n")
    with pytest.raises(SystemExit, match=r"labels.txt: labels must be 0..6 or happy, .*: line 1: 'bored'$"):
        face_crop.main(argv)


def test_without_facenet_pytorch_mtcnn_says_how_to_install_and_auto_falls_back(monkeypatch):
    monkeypatch.setitem(sys.modules, "facenet_pytorch", None)  # makes the import fail
    with pytest.raises(ImportError, match=r"pip install --no-deps facenet-pytorch==2\.6\.0"):
        MTCNNDetector()
    assert build_detector("auto").name == "haar"
