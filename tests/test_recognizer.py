"""The Python API (inference/recognizer.py) and its streaming: equal to the whole-video computation, memory bounded
by a few windows, any input kind, clear errors, exported models."""

import argparse

import cv2
import numpy as np
import pytest
import torch

from datasets.synthetic import render_clip
from datasets.transforms import clip_tensor
from datasets.video_io import VideoReadError, VideoWriter, stream_frames, write_video
from engine.checkpoint import save_checkpoint
from inference import recognizer as recognizer_module
from inference import windows as windows_module
from inference.frames import FrameSource, downscale
from inference.recognizer import Recognizer
from inference.report import AnnotatedVideo, annotate_frame
from inference.windows import frame_timeline, plan_windows
from models import create_model
from preprocess.face_crop import crop_faces

CLIP, STRIDE, HOP = 16, 2, 8
SPAN = (CLIP - 1) * STRIDE + 1


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = create_model("lgi_former_tiny_patch16_64", depth=1, init_scale=1.0)
    path = tmp_path_factory.mktemp("ckpt") / "checkpoint-best.pth"
    save_checkpoint(path, model, "best", args=argparse.Namespace(data_set="synthetic", sampling_rate=STRIDE))
    return path


@pytest.fixture(scope="module")
def face_video(tmp_path_factory):
    """72 frames of a talking face that Haar finds, leaving the picture for frames 36-71."""
    frames = render_clip(3, 0, num_frames=72, size=160)
    frames[36:] = frames[36:, :1, :1]
    path = tmp_path_factory.mktemp("video") / "talk.mp4"
    write_video(path, frames, fps=25)
    return path


def recognizer(checkpoint, **options):
    return Recognizer.from_checkpoint(checkpoint, "cpu", hop=HOP, **{"detector": "haar", **options})


def whole_video_reference(rec, path):
    """The demo before streaming: every frame in memory, then the persons, the clips, the batches, the timeline."""
    frames = np.stack([downscale(f) for f in stream_frames(path)])
    persons, _, _ = rec.find_persons(FrameSource(frames))
    clips, has_face = [], []
    for window in plan_windows(len(frames), CLIP, STRIDE, HOP):
        for person in persons:
            found = person.track.found[window]
            has_face.append(found.mean() >= 0.5)
            if has_face[-1]:
                known = np.flatnonzero(found)
                crop = window[known[np.abs(np.arange(CLIP)[:, None] - known[None]).argmin(1)]]
                clips.append(clip_tensor(crop_faces(frames[crop], person.track.boxes[crop], rec.input_size)))
    batches = [clips[i : i + rec.batch_size] for i in range(0, len(clips), rec.batch_size)]
    probs = iter(np.concatenate([rec.probabilities(batch) for batch in batches]))
    window_probs = [next(probs) if face else None for face in has_face]
    by_person = [window_probs[p :: len(persons)] for p in range(len(persons))]
    return frames, persons, by_person


def test_streaming_equals_the_whole_video_in_memory(tmp_path, checkpoint, face_video, monkeypatch):
    encoded = []  # the annotated frames handed to the encoder (x264's bytes vary with the heap's contents)
    monkeypatch.setattr(VideoWriter, "write", lambda self, frame: encoded.append(frame.copy()))
    rec = recognizer(checkpoint, batch_size=3, detect_every=2)
    result = rec(face_video, annotated=tmp_path / "annotated.mp4")
    frames, persons, by_person = whole_video_reference(rec, face_video)
    assert len(result.persons) == len(persons) == 1
    person, window_probs = result.persons[0], by_person[0]
    np.testing.assert_array_equal(person.track.boxes, persons[0].track.boxes)
    np.testing.assert_array_equal(person.track.status, persons[0].track.status)
    assert len(person.windows) == len(window_probs) == len(plan_windows(72, CLIP, STRIDE, HOP))
    for w, probs in zip(person.windows, window_probs, strict=True):
        assert (w.probs is None) == (probs is None)
        if probs is not None:
            np.testing.assert_array_equal(w.probs, probs)
    assert person.windows[0].probs is not None and person.windows[-1].probs is None  # the face leaves
    plain = rec(face_video)  # without the annotated video only the sampled frames are decoded to RGB: same numbers
    for a, b in zip(plain.persons[0].windows, person.windows, strict=True):
        assert (a.probs is None) == (b.probs is None) and (a.probs is None or np.array_equal(a.probs, b.probs))
    # the annotated video gets the frames the whole-video timeline gives
    for w, probs in zip(person.windows, window_probs, strict=True):
        w.probs = probs
    timeline = frame_timeline(person.windows, person.track, len(rec.classes))
    annotated = [
        annotate_frame(frame, box[None], probs[None], rec.classes, [1])
        for frame, box, probs in zip(frames, person.track.boxes, timeline, strict=True)
    ]
    np.testing.assert_array_equal(np.stack(encoded), np.stack(annotated))


def test_a_failure_while_encoding_the_annotated_video_reaches_the_caller(tmp_path):
    video = AnnotatedVideo(tmp_path / "annotated.mp4", ("a", "b"), 25, [1])
    nothing = (np.full((1, 4), np.nan), np.full((1, 2), np.nan))
    with pytest.raises(ValueError, match="ndim"), video:
        video.write(np.zeros((64, 64, 3), np.uint8), *nothing)
        video.write(np.zeros((64, 64), np.uint8), *nothing)  # not RGB: the encoder, in its thread, refuses it


def test_a_tiny_buffer_equals_a_buffer_holding_the_whole_video(checkpoint, face_video):
    tiny = recognizer(checkpoint, batch_size=1)(face_video)
    whole = recognizer(checkpoint, batch_size=1000)(face_video)
    assert whole.stats.max_buffered == 72 and whole.stats.batches == 1
    assert tiny.stats.max_buffered <= SPAN + HOP
    assert tiny.to_dict()["persons"][0]["face_frames"] == whole.to_dict()["persons"][0]["face_frames"]
    for a, b in zip(tiny.persons[0].windows, whole.persons[0].windows, strict=True):
        assert (a.start, a.end, a.has_face) == (b.start, b.end, b.has_face)
        if a.probs is not None:
            np.testing.assert_allclose(a.probs, b.probs, atol=1e-6)
    assert tiny.label == whole.label


def test_memory_holds_a_few_windows_whatever_the_length(checkpoint):
    rec = recognizer(checkpoint, detector="none", batch_size=4)
    buffered = []
    for length in (100, 400):
        frames = np.repeat(render_clip(1, 2, num_frames=20, size=64), length // 20, axis=0)
        result = rec(frames)
        assert result.num_frames == length and result.label is not None
        buffered.append(result.stats.max_buffered)
    assert buffered[0] == buffered[1] <= (4 - 1) * HOP + SPAN


class BrightFaceDetector:
    """A face box in every frame that is not black."""

    def detect(self, frames):
        return [np.array([[8, 8, 56, 56, 1.0]] if f.any() else [], np.float32).reshape(-1, 5) for f in frames]


def test_a_long_stretch_without_a_face_is_not_held_in_memory(checkpoint):
    frames = np.repeat(render_clip(1, 2, num_frames=20, size=64), 20, axis=0)  # 400 frames
    frames[44:340] = 0  # a face, 296 frames without one (two face windows wait for a batch), the face again
    result = recognizer(checkpoint, detector=BrightFaceDetector(), batch_size=4)(frames)
    assert [w.has_face for w in result.persons[0].windows].count(False) > 20
    assert result.stats.max_buffered <= (4 - 1) * HOP + SPAN


def test_both_passes_hand_freed_memory_back_as_the_video_goes(checkpoint, monkeypatch):
    """With malloc keeping freed blocks (the demo's setting), a long video would otherwise grow what it holds."""
    calls = []
    for module in (recognizer_module, windows_module):
        monkeypatch.setattr(module, "release_freed_memory", lambda: calls.append(1))
    monkeypatch.setattr(recognizer_module, "RELEASE_EVERY_FRAMES", 100)
    rec = recognizer(checkpoint, detector=BrightFaceDetector(), batch_size=4)
    for length in (400, 800):
        calls.clear()
        result = rec(np.repeat(render_clip(1, 2, num_frames=20, size=64), length // 20, axis=0))
        assert len(calls) == length // 100 + result.stats.batches  # first pass + second pass


def test_a_path_a_frame_folder_and_an_array_give_the_same_result(tmp_path, checkpoint, face_video):
    rec = recognizer(checkpoint, detect_every=3)
    frames = np.stack(list(stream_frames(face_video)))
    (tmp_path / "frames").mkdir()
    for t, frame in enumerate(frames):  # lossless frames, numbered so that natural order matters
        cv2.imwrite(str(tmp_path / "frames" / f"img_{t}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    results = [rec(face_video), rec(tmp_path / "frames"), rec(frames)]
    first = results[0].to_dict()
    for result in results[1:]:
        other = result.to_dict()
        assert {**other, "video": first["video"]} == first
    detected = np.flatnonzero(results[0].persons[0].track.status == "detected")
    assert list(detected % 3) == [0] * first["persons"][0]["face_frames"]["detected"]


def test_an_undecodable_tail_ends_the_timeline_there(tmp_path, checkpoint, face_video):
    data = bytearray(face_video.read_bytes())
    n = len(data)
    data[n // 2 : n - 3000] = bytes(n - 3000 - n // 2)  # zeros from half way; the index (moov) at the end stays
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(data)
    result = recognizer(checkpoint)(broken)
    assert 0 < result.num_frames < 72
    assert result.stopped.startswith(f"{broken}: cannot decode frame {result.num_frames}")
    assert result.to_dict()["decoding_stopped"] == result.stopped
    assert result.persons[0].windows[-1].end == result.num_frames - 1


@pytest.mark.parametrize(
    "video, error, message",
    [
        (np.zeros((4, 32, 32, 3), np.float32), ValueError, "expected a uint8 RGB array"),
        (np.zeros((32, 32, 3), np.uint8), ValueError, "expected a uint8 RGB array"),
        ("missing.mp4", VideoReadError, "missing.mp4: no such file or folder"),
    ],
)
def test_bad_inputs_get_one_line(checkpoint, video, error, message):
    with pytest.raises(error, match=message) as info:
        recognizer(checkpoint, detector="none")(video)
    assert "\n" not in str(info.value)


def test_options_and_precisions_are_checked(checkpoint):
    with pytest.raises(ValueError, match="unknown precision 'int4'; known: auto, fp32, bf16, fp16, int8"):
        Recognizer.from_checkpoint(checkpoint, precision="int4")
    with pytest.raises(ValueError, match="labels 'mafw' have 11 classes, the checkpoint predicts 7"):
        Recognizer.from_checkpoint(checkpoint, labels="mafw")
    with pytest.raises(ValueError, match="must be at least 1"):
        recognizer(checkpoint, detect_every=0)
    rec = Recognizer.from_checkpoint(checkpoint, "cpu", stride=3, detector="none")
    assert (rec.stride, rec.clip_len, rec.input_size, len(rec.classes)) == (3, 16, 64, 7)


def test_exported_checkpoints_give_the_torch_numbers(tmp_path, checkpoint):
    export = pytest.importorskip("engine.export")
    pytest.importorskip("onnxruntime")
    frames = render_clip(2, 3, num_frames=40, size=64)
    by_torch = recognizer(checkpoint, detector="none")(frames)
    safetensors = export.export(checkpoint, tmp_path / "model.safetensors")
    onnx = export.export(checkpoint, tmp_path / "model.onnx")
    by_safetensors = recognizer(safetensors, detector="none")(frames)
    by_onnx = Recognizer.from_checkpoint(onnx, hop=HOP, detector="none")(frames)  # onnxruntime, from the suffix
    assert by_safetensors.to_dict() == by_torch.to_dict()
    assert by_onnx.classes == by_torch.classes and by_onnx.label == by_torch.label
    for a, b in zip(by_onnx.persons[0].windows, by_torch.persons[0].windows, strict=True):
        np.testing.assert_allclose(a.probs, b.probs, atol=1e-5)


def test_progress_is_reported_for_both_passes(checkpoint, face_video):
    seen = []
    result = recognizer(checkpoint, batch_size=2)(face_video, progress=seen.append)
    stages = [p.stage for p in seen]
    assert stages == sorted(stages, key=["finding faces", "classifying"].index)  # the first pass, then the second
    for stage in ("finding faces", "classifying"):
        reports = [p for p in seen if p.stage == stage]
        assert [p.frames for p in reports] == [25, 50, 72] and reports[-1].total == 72
        assert reports[-1].seconds_left == 0 and all(p.elapsed >= 0 for p in reports)
    assert seen[-1].windows == sum(w.probs is not None for w in result.persons[0].windows) > 0
    assert [p for p in seen if p.stage == "finding faces"][-1].faces > 0


def test_the_demo_display_prints_a_line_now_and_then_into_a_file(tmp_path):
    from inference.progress import Progress, ProgressDisplay

    with open(tmp_path / "log", "w") as log:
        display = ProgressDisplay(interval=0.0, stream=log)
        for frames in (25, 50):
            display(Progress("finding faces", frames, 50, 3, 0, 2.0 * frames / 25))
        display(Progress("classifying", 50, 50, 2, 4, 10.0))
    lines = (tmp_path / "log").read_text().splitlines()
    assert lines[0] == "finding faces: 25/50 frames (50%), 3 faces, 0:02 elapsed, about 0:02 left"
    assert lines[-1] == "classifying: 50/50 frames (100%), 4 windows classified, 0:10 elapsed, about 0:00 left"
