"""demo.py on generated face videos with a small random model: outputs, no-face stretches, bad input, a video
that stops decoding, frame folders and the webcam, the Python API giving the numbers the demo writes, the
default model in checkpoint/ and the warning for a model of the generated set on other footage."""

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import demo
from datasets.synthetic import render_clip
from datasets.video_io import write_video
from engine.checkpoint import save_checkpoint
from inference import Recognizer
from inference.windows import plan_windows
from models import create_model

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = create_model("lgi_former_tiny_patch16_160", depth=1, init_scale=1.0)
    path = tmp_path_factory.mktemp("ckpt") / "checkpoint-best.pth"
    save_checkpoint(path, model, "best", args=argparse.Namespace(data_set="synthetic", sampling_rate=2))
    return path


def face_video(path, faceless=slice(0, 0), num_frames=72):
    """A generated talking face; frames in `faceless` show only the background (the face left)."""
    frames = render_clip(3, 0, num_frames=num_frames, size=160)  # an identity Haar finds in every frame
    frames[faceless] = frames[faceless][:, :1, :1]  # flat background colour
    write_video(path, frames, fps=25)
    return path


def only_person(report):
    """The one person of a single-face report."""
    assert len(report["persons"]) == 1, [p["person"] for p in report["persons"]]
    return report["persons"][0]


def run_demo(video, checkpoint, output, *extra):
    args = demo.get_args([str(video), "--checkpoint", str(checkpoint), "--output", str(output), "--device", "cpu",
                          "--detector", "haar", "--hop", "8", *extra])  # fmt: skip
    return demo.main(args)


def test_outputs_are_written_and_consistent(tmp_path, checkpoint):
    video = face_video(tmp_path / "talk.mp4", faceless=slice(36, 72))
    report = run_demo(video, checkpoint, tmp_path / "out")
    for name in ("annotated.mp4", "timeline.png", "predictions.json", "predictions.csv"):
        assert (tmp_path / "out" / name).stat().st_size > 0, name
    saved = json.loads((tmp_path / "out" / "predictions.json").read_text())
    assert saved["num_frames"] == 72 and saved["fps"] == pytest.approx(25)
    windows = only_person(saved)["windows"]
    expected = plan_windows(72, clip_len=16, stride=2, hop=8)  # stride from the checkpoint's sampling_rate
    assert len(windows) == len(expected)
    for w, idx in zip(windows, expected, strict=True):
        assert (w["start_frame"], w["end_frame"]) == (idx[0], idx[-1])
        assert w["start_s"] == pytest.approx(idx[0] / 25) and w["end_s"] == pytest.approx((idx[-1] + 1) / 25)
        if w["probs"] is not None:
            assert sum(w["probs"].values()) == pytest.approx(1.0, abs=1e-5)
    labels = [w["label"] for w in windows]
    assert labels[0] != "no face" and labels[-1] == "no face"  # the face leaves half way
    assert only_person(saved)["face_frames"]["missing"] > 0
    assert sum(only_person(report)["overall"]["probs"].values()) == pytest.approx(1.0, abs=1e-5)
    with open(tmp_path / "out" / "predictions.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(windows) and rows[-1]["label"] == "no face" and rows[-1]["happy"] == ""
    assert rows[0]["person"] == "1" and float(rows[0]["x2"]) > float(rows[0]["x1"]) and rows[-1]["x1"] == ""


def test_video_without_a_face_still_gets_a_report(tmp_path, checkpoint, capsys):
    frames = np.random.default_rng(0).integers(0, 255, (40, 96, 96, 3), dtype=np.uint8)
    write_video(tmp_path / "noise.mp4", frames, fps=25)
    report = run_demo(tmp_path / "noise.mp4", checkpoint, tmp_path / "out")
    assert report["persons"] == []
    assert "no face found" in capsys.readouterr().out
    assert (tmp_path / "out" / "timeline.png").exists() and (tmp_path / "out" / "annotated.mp4").exists()


@pytest.mark.parametrize("case", ["unreadable", "no_checkpoint"])
def test_user_errors_get_one_clear_line(tmp_path, checkpoint, case):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00" * 100)
    args = [str(bad), "--output", str(tmp_path / "out"), "--device", "cpu"]
    args += ["--checkpoint", str(checkpoint if case == "unreadable" else tmp_path / "missing.pth")]
    result = subprocess.run(
        [sys.executable, str(ROOT / "demo.py"), *args], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert ("broken.mp4" if case == "unreadable" else "missing.pth") in lines[0]


def test_face_crops_skip_detection_and_the_true_class_is_reported(tmp_path, checkpoint, capsys):
    frames = render_clip(3, 1, num_frames=48, size=64)  # a generated face crop: too small for the detectors
    write_video(tmp_path / "crop.mp4", frames, fps=25)
    report = run_demo(tmp_path / "crop.mp4", checkpoint, tmp_path / "out", "--detector", "none", "--true_label", "sad")
    assert report["true_label"] == "sad" and only_person(report)["overall"] is not None
    assert only_person(report)["face_frames"]["missing"] == 0
    assert "true class sad" in capsys.readouterr().out


def test_an_unknown_true_label_is_one_clear_error(tmp_path, checkpoint):
    write_video(tmp_path / "crop.mp4", render_clip(3, 1, num_frames=20, size=64), fps=25)
    with pytest.raises(ValueError, match="--true_label 'gloomy' is not a class of this model"):
        run_demo(tmp_path / "crop.mp4", checkpoint, tmp_path / "out", "--true_label", "gloomy")


def test_the_python_api_gives_the_numbers_demo_writes(tmp_path, checkpoint):
    video = face_video(tmp_path / "talk.mp4", faceless=slice(50, 72))
    run_demo(video, checkpoint, tmp_path / "out", "--detect_every", "2", "--batch_size", "3")
    saved = json.loads((tmp_path / "out" / "predictions.json").read_text())
    recognizer = Recognizer.from_checkpoint(checkpoint, "cpu", hop=8, batch_size=3, detector="haar", detect_every=2)
    result = recognizer(video)
    assert result.to_dict() == {k: v for k, v in saved.items() if k not in ("true_label", "processing_s")}
    person = only_person(saved)
    assert result.persons[0].label == person["overall"]["label"] == result.label
    assert result.persons[0].probabilities == person["overall"]["probs"]
    assert len(result.persons[0].windows) == len(person["windows"]) and saved["decoding_stopped"] is None


def test_a_video_that_stops_decoding_is_analysed_up_to_there(tmp_path, checkpoint, capsys):
    data = bytearray(face_video(tmp_path / "talk.mp4").read_bytes())
    n = len(data)
    data[n // 2 : n - 3000] = bytes(n - 3000 - n // 2)  # zeros from half way; the index (moov) at the end stays
    (tmp_path / "broken.mp4").write_bytes(data)
    report = run_demo(tmp_path / "broken.mp4", checkpoint, tmp_path / "out")
    assert 16 < report["num_frames"] < 72
    assert only_person(report)["windows"][-1]["end_frame"] == report["num_frames"] - 1
    assert report["decoding_stopped"].startswith(f"{tmp_path / 'broken.mp4'}: cannot decode frame")
    printed = capsys.readouterr().out
    assert f"; the timeline ends at frame {report['num_frames']}" in printed and "warning: " in printed
    assert (tmp_path / "out" / "annotated.mp4").exists()


def test_a_frame_folder_takes_its_frame_rate_from_the_flag(tmp_path, checkpoint):
    (tmp_path / "frames").mkdir()
    for t, frame in enumerate(render_clip(3, 1, num_frames=30, size=64)):
        cv2.imwrite(str(tmp_path / "frames" / f"{t}.jpg"), frame)
    report = run_demo(tmp_path / "frames", checkpoint, tmp_path / "out", "--detector", "none", "--fps", "10")
    assert report["num_frames"] == 30 and report["fps"] == 10 and report["duration_s"] == 3.0
    assert report["video"] == str(tmp_path / "frames") and only_person(report)["overall"] is not None


class FakeCamera:
    """cv2.VideoCapture stand-in: 40 BGR frames of a generated face crop at 20 fps, then the stream ends."""

    def __init__(self, index):
        self.frames = list(render_clip(4, 2, num_frames=40, size=64)[..., ::-1])

    def isOpened(self):  # noqa: N802 (OpenCV's name)
        return True

    def get(self, prop):
        return 20.0 if prop == cv2.CAP_PROP_FPS else 0.0

    def read(self):
        return (True, self.frames.pop(0)) if self.frames else (False, None)

    def release(self):
        pass


def test_webcam_mode_records_then_analyses(tmp_path, checkpoint, monkeypatch):
    monkeypatch.setattr(demo.cv2, "VideoCapture", FakeCamera)
    args = demo.get_args(["--webcam", "0", "--checkpoint", str(checkpoint), "--output", str(tmp_path / "out"),
                          "--device", "cpu", "--detector", "none", "--hop", "8"])  # fmt: skip
    report = demo.main(args)
    assert report["video"] == "camera 0" and report["num_frames"] == 40 and report["fps"] == 20
    assert only_person(report)["overall"] is not None and (tmp_path / "out" / "annotated.mp4").stat().st_size > 0


def test_an_exported_onnx_model_runs_in_the_demo(tmp_path, checkpoint):
    export = pytest.importorskip("engine.export")
    pytest.importorskip("onnxruntime")
    onnx = export.export(checkpoint, tmp_path / "model.onnx")
    write_video(tmp_path / "crop.mp4", render_clip(3, 1, num_frames=40, size=64), fps=25)
    by_torch = run_demo(tmp_path / "crop.mp4", checkpoint, tmp_path / "torch", "--detector", "none")
    by_onnx = run_demo(tmp_path / "crop.mp4", onnx, tmp_path / "onnx", "--detector", "none")
    by_onnx, by_torch = only_person(by_onnx), only_person(by_torch)
    assert len(by_onnx["windows"]) == len(by_torch["windows"])
    for a, b in zip(by_onnx["windows"], by_torch["windows"], strict=True):
        assert a["probs"] == pytest.approx(b["probs"], abs=1e-5)


def test_a_model_placed_in_checkpoint_is_used_by_default(tmp_path, checkpoint):
    """The original README's convention: put the fine-tuned model in checkpoint/, run `python demo.py <video>`."""
    (tmp_path / "checkpoint").mkdir()
    (tmp_path / "checkpoint" / "my_model.pth").write_bytes(checkpoint.read_bytes())
    write_video(tmp_path / "crop.mp4", render_clip(3, 1, num_frames=20, size=64), fps=25)
    run = [sys.executable, str(ROOT / "demo.py"), "crop.mp4", "--device", "cpu", "--detector", "none"]
    result = subprocess.run(run, cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    saved = json.loads((tmp_path / "output" / "crop" / "predictions.json").read_text())
    assert only_person(saved)["overall"] is not None
    warning = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert warning == [f"warning: {saved['warning']}"]  # a model of the generated set on other footage: one line
    (tmp_path / "checkpoint" / "other.safetensors").write_bytes(b"")
    result = subprocess.run(run, cwd=tmp_path, capture_output=True, text=True)
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1, result.stderr
    assert "checkpoint/ holds 2 models (my_model.pth, other.safetensors); pass --checkpoint" in lines[0]


def test_a_model_of_the_generated_set_warns_on_other_footage_only(tmp_path, checkpoint, caplog):
    from datasets.synthetic import GENERATED

    frames = render_clip(3, 1, num_frames=20, size=64)
    write_video(tmp_path / "generated.mp4", frames, fps=25, comment=GENERATED)
    write_video(tmp_path / "footage.mp4", frames, fps=25)
    dfew = tmp_path / "dfew.pth"
    torch.manual_seed(0)
    save_checkpoint(dfew, create_model("lgi_former_tiny_patch16_160", depth=1), "best",
                    args=argparse.Namespace(data_set="dfew", sampling_rate=2))  # fmt: skip
    warned = {}
    for name, model in [("generated", checkpoint), ("footage", checkpoint), ("dfew", dfew)]:
        video = tmp_path / ("footage.mp4" if name == "dfew" else f"{name}.mp4")
        caplog.clear()
        report = run_demo(video, model, tmp_path / name, "--detector", "none")
        warned[name] = report["warning"] is not None
        logged = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert logged == ([f"warning: {report['warning']}"] if warned[name] else [])
        assert "\n" not in "".join(logged)
    assert warned == {"generated": False, "footage": True, "dfew": False}
