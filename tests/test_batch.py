"""batch.py over a folder of generated videos with one unreadable file: the tables, resuming after kill -9, and
torchrun with 2 processes giving the same tables as one."""

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

import batch
from datasets.synthetic import render_clip
from datasets.video_io import write_video
from engine.checkpoint import save_checkpoint
from models import create_model

ROOT = Path(__file__).resolve().parents[1]
NUM_VIDEOS = 16


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = create_model("lgi_former_tiny_patch16_64", depth=1, init_scale=1.0)
    path = tmp_path_factory.mktemp("ckpt") / "checkpoint-best.pth"
    save_checkpoint(path, model, "best", args=argparse.Namespace(data_set="dfew", sampling_rate=2))
    return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """16 generated face crops in two nested folders, and a text file named like a video."""
    root = tmp_path_factory.mktemp("videos")
    for k in range(NUM_VIDEOS):
        folder = root / f"session_{k % 2}" / ("day 2" if k % 3 == 0 else "")
        folder.mkdir(parents=True, exist_ok=True)
        write_video(folder / f"clip_{k:02d}.mp4", render_clip(k, k % 7, num_frames=24 + 4 * k, size=64), fps=25)
    (root / "session_1" / "notes.mp4").write_text("not a video")
    return root


def command(videos, output, checkpoint):
    return [str(videos), "--output", str(output), "--checkpoint", str(checkpoint), "--detector", "none",
            "--hop", "8", "--device", "cpu", "--csv"]  # fmt: skip


def read_tables(output):
    return {name: pd.read_parquet(output / f"{name}.parquet") for name in ("windows", "persons", "videos")}


def assert_same_tables(a, b):
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=False, atol=1e-6)


@pytest.fixture(scope="module")
def uninterrupted(videos, checkpoint, tmp_path_factory):
    output = tmp_path_factory.mktemp("uninterrupted")
    batch.main(batch.get_args(command(videos, output, checkpoint)))
    return output


def test_one_run_gives_the_tables_and_logs_the_unreadable_file(uninterrupted):
    tables = read_tables(uninterrupted)
    summary = tables["videos"]
    assert len(summary) == NUM_VIDEOS + 1 and list(summary["video"]) == sorted(summary["video"])
    failed = summary[summary["status"] == "failed"]
    assert list(failed["video"]) == ["session_1/notes.mp4"]
    failures = pd.read_csv(uninterrupted / "failures.csv")
    assert list(failures["video"]) == ["session_1/notes.mp4"] and "cannot open" in failures["error"][0]
    done = summary[summary["status"] == "done"]
    assert (done["persons"] == 1).all() and (done["face_coverage"] == 1.0).all()
    assert "session_0/day 2/clip_00.mp4" in set(done["video"])
    windows = tables["windows"]
    assert set(windows["video"]) == set(done["video"]) and windows["p_happy"].between(0, 1).all()
    assert set(tables["persons"]["label"]) <= {"happy", "sad", "neutral", "angry", "surprise", "disgust", "fear"}
    assert pd.read_csv(uninterrupted / "windows.csv").shape == windows.shape


def test_a_run_killed_part_way_resumes_to_the_same_tables(videos, checkpoint, uninterrupted, tmp_path):
    output = tmp_path / "killed"
    run = [sys.executable, str(ROOT / "batch.py"), *command(videos, output, checkpoint)]
    process = subprocess.Popen(run, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(list((output / "records").glob("*.json"))) < 3 and process.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    written = len(list((output / "records").glob("*.json")))
    assert 3 <= written < NUM_VIDEOS + 1, "the run was not killed part way"
    assert not (output / "videos.parquet").exists()
    (output / "records" / "clip_15-half.json.tmp1").write_text('{"video": "sess')  # a record cut short
    done = subprocess.run(run, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"{NUM_VIDEOS + 1 - written} to analyse" in done.stdout
    assert_same_tables(read_tables(output), read_tables(uninterrupted))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_with_two_processes_gives_the_same_tables(videos, checkpoint, uninterrupted, tmp_path):
    output = tmp_path / "torchrun"
    torchrun = ["-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={free_port()}"]
    done = subprocess.run([sys.executable, *torchrun, str(ROOT / "batch.py"), *command(videos, output, checkpoint)],
                          cwd=ROOT, capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "rank 0: " in done.stdout and "rank 1: " in done.stdout
    assert_same_tables(read_tables(output), read_tables(uninterrupted))


def test_a_list_file_and_bad_sources(videos, checkpoint, tmp_path):
    listing = tmp_path / "videos.txt"
    listing.write_text(f"# two of them\n{videos / 'session_0/clip_02.mp4'}\n\n{videos / 'session_1/clip_01.mp4'}\n")
    frames = batch.main(batch.get_args(command(listing, tmp_path / "out", checkpoint)))
    assert len(frames["videos"]) == 2 and (frames["videos"]["status"] == "done").all()
    with pytest.raises(ValueError, match="no such folder or list file"):
        batch.main(batch.get_args(command(tmp_path / "missing", tmp_path / "out2", checkpoint)))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no videos found"):
        batch.main(batch.get_args(command(tmp_path / "empty", tmp_path / "out3", checkpoint)))
