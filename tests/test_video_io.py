import av
import cv2
import decord
import numpy as np
import pytest

from datasets import video_io
from datasets.video_io import VideoFile, VideoReadError, count_frames, list_frames, open_video, read_frames

NUM_FRAMES = 150
ASKED = [140, 3, 77, 133, 3, 0, 149, 64]  # unsorted, a repeat, and indices past 128 (the AVI trap)


def pattern(index, size=64):
    """A frame whose index survives lossy coding: 8 bits as 16x16 black/white blocks, plus a colour ramp."""
    frame = np.zeros((size, size, 3), np.uint8)
    for bit in range(8):
        row, col = divmod(bit, 4)
        if index >> bit & 1:
            frame[row * 16 : row * 16 + 16, col * 16 : col * 16 + 16] = 255
    frame[32:, :, 1] = index * 7 % 256
    return frame


def frame_id(frame):
    bits = [frame[r * 16 + 4 : r * 16 + 12, c * 16 + 4 : c * 16 + 12].mean() > 127 for r, c in np.ndindex(2, 4)]
    return sum(bit << i for i, bit in enumerate(bits))


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """An H.264 mp4 and an H.264 AVI (B-frames, one keyframe), 150 numbered frames each."""
    folder = tmp_path_factory.mktemp("videos")
    frames = np.stack([pattern(i) for i in range(NUM_FRAMES)])
    paths = {}
    for ext in ("mp4", "avi"):
        paths[ext] = str(folder / f"numbered.{ext}")
        video_io.write_video(paths[ext], frames)
    return paths


def sequential_decode(backend, path):
    """Every frame, decoded front to back with the backend's own plain API (no seeking)."""
    if backend == "decord":
        reader = decord.VideoReader(path, num_threads=1)
        return np.stack([reader.next().asnumpy() for _ in range(len(reader))])
    if backend in ("pyav", "torchcodec"):  # torchcodec's exact random access against PyAV's sequential decoding
        with av.open(path) as container:
            return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    capture, frames = cv2.VideoCapture(path), []
    while (frame := capture.read()[1]) is not None:
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    return np.stack(frames)


@pytest.mark.parametrize("backend", video_io.VIDEO_BACKENDS)
@pytest.mark.parametrize("ext", ["mp4", "avi"])
def test_every_backend_returns_the_frames_asked_for(videos, backend, ext):
    if backend == "torchcodec":
        if ext == "avi":  # its random access is wrong there, as decord's: it steps aside
            with pytest.raises(VideoReadError, match="frame-exact in mp4, mov and m4v only"):
                VideoFile(videos[ext], backends=(backend,))
            return
        try:
            VideoFile(videos[ext], backends=(backend,))
        except VideoReadError as err:
            pytest.skip(f"torchcodec cannot decode video on this machine: {err}")
    video = VideoFile(videos[ext], backends=(backend,))
    assert len(video) == NUM_FRAMES
    frames = video.read(ASKED)
    assert frames.shape == (len(ASKED), 64, 64, 3) and frames.dtype == np.uint8
    assert [frame_id(f) for f in frames] == ASKED
    np.testing.assert_array_equal(frames, sequential_decode(backend, videos[ext])[ASKED])


def test_the_avi_file_triggers_decords_random_access_trap(videos):
    """decord 0.6.0 (pinned) seeks wrongly in this AVI, so the test above really guards the sequential path."""
    reader = decord.VideoReader(videos["avi"], num_threads=1)
    assert [frame_id(f) for f in reader.get_batch(ASKED).asnumpy()] != ASKED


def test_decord_missing_or_failing_falls_back_to_pyav(videos, monkeypatch):
    def missing(path):
        raise ImportError("No module named 'decord'")

    monkeypatch.setitem(video_io._READERS, "torchcodec", missing)
    monkeypatch.setitem(video_io._READERS, "decord", missing)
    video = open_video(videos["mp4"])
    assert video.backend == "pyav"
    assert [frame_id(f) for f in video.read([5, 90])] == [5, 90]

    class Broken(video_io._DecordReader):
        def read(self, wanted):
            raise RuntimeError("DECORDError: cannot seek")

    monkeypatch.setitem(video_io._READERS, "decord", Broken)
    video = open_video(videos["mp4"])
    assert [frame_id(f) for f in video.read([7, 8])] == [7, 8]
    assert video.backend == "pyav" and "decord: DECORDError: cannot seek" in video.errors


def test_frame_folder_is_read_in_natural_order(tmp_path):
    folder = tmp_path / "clip 7"  # a space in the path
    folder.mkdir()
    for i in range(12):  # frame_1 ... frame_12: lexical order would put frame_10 after frame_1
        cv2.imwrite(str(folder / f"frame_{i + 1}.png"), pattern(i)[..., ::-1])
    (folder / "notes.txt").write_text("not a frame")
    assert [p.rsplit("/", 1)[1] for p in list_frames(str(folder))][:3] == ["frame_1.png", "frame_2.png", "frame_3.png"]
    assert count_frames(folder) == 12
    frames = read_frames(folder, [11, 0, 9, 9])
    np.testing.assert_array_equal(frames, np.stack([pattern(i) for i in (11, 0, 9, 9)]))


def test_jpg_folder(tmp_path):
    for i in range(5):
        cv2.imwrite(str(tmp_path / f"{i:05d}.jpg"), pattern(i * 20)[..., ::-1])
    assert [frame_id(f) for f in read_frames(tmp_path, [4, 1])] == [80, 20]


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda p: p.mkdir(), "folder holds no jpg/png frames"),
        (lambda p: None, "no such file or folder"),
        (lambda p: p.write_bytes(b""), "empty file"),
        (lambda p: p.write_bytes(np.random.default_rng(0).bytes(5000)), "decord:"),
    ],
    ids=["empty folder", "missing", "empty file", "random bytes"],
)
def test_unreadable_sources_raise_one_line_errors(tmp_path, make, reason):
    path = tmp_path / "clip.mp4"
    make(path)
    with pytest.raises(VideoReadError) as info:
        count_frames(path)
    message = str(info.value)
    assert message.startswith(str(path)) and reason in message and "\n" not in message


def test_truncated_mp4_raises(videos, tmp_path):
    data = open(videos["mp4"], "rb").read()
    path = tmp_path / "truncated.mp4"
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(VideoReadError, match="truncated.mp4"):
        read_frames(path, [0, 100])


def test_index_out_of_range(videos):
    with pytest.raises(VideoReadError, match="frame index 150 out of range for 150 frames"):
        read_frames(videos["mp4"], [0, 150])


def test_corrupt_image_in_folder(tmp_path):
    cv2.imwrite(str(tmp_path / "1.jpg"), pattern(1))
    (tmp_path / "2.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(VideoReadError, match="2.jpg: cannot decode image"):
        read_frames(tmp_path, [0, 1])
