"""Validation and test never replace a video they cannot read: they leave it out and say so (printed summary,
metrics.json, pred.csv, the fold table), or stop with one line under --strict_eval. Training still replaces."""

import csv
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from datasets.synthetic import generate
from datasets.video_dataset import DataLoadError, FinetuneDataset
from engine.data import build_loader
from engine.evaluate import coverage, evaluate
from models import create_model

ROOT = Path(__file__).resolve().parents[1]
VIEWS = dict(num_classes=7, input_size=64, short_side_size=64, sampling_rate=1, test_num_segment=2, test_num_crop=1)


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    """Fold 1 over mp4 files, its first test video truncated to half its bytes; returns (folder, that path)."""
    out = tmp_path_factory.mktemp("synthetic")
    generate(out, num_clips=35, num_pretrain=0, num_frames=16, size=64, seed=2, workers=1)
    folder = out / "mp4" / "split01"
    first = (folder / "test.csv").read_text().split()[0]
    broken = (folder / first).resolve()
    data = broken.read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    return folder, str(broken)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return create_model("lgi_former_tiny_patch16_64", depth=1, num_classes=7)


@pytest.mark.parametrize("mode", ["val", "test"])
@pytest.mark.parametrize("num_workers", [0, 2])
def test_an_unreadable_video_is_left_out_and_reported(split, model, mode, num_workers):
    folder, broken = split
    dataset = FinetuneDataset(folder / "test.csv", mode, **VIEWS)
    loader = build_loader(dataset, 3, False, num_workers)
    metrics, table = evaluate(model, loader, torch.device("cpu"), 7, desc=mode)
    assert metrics["unreadable"] == [broken]
    assert metrics["num_samples"] == 6 and metrics["num_videos"] == 7 and len(table["video"]) == 6
    assert broken not in table["path"] and len(set(table["path"])) == 6
    assert int(sum(sum(row) for row in metrics["confusion_matrix"])) == 6
    assert coverage(metrics) == f"6 of 7 videos; 1 unreadable: {broken}"
    assert dataset.failures.count == 0  # nothing was replaced


def test_strict_evaluation_stops_with_one_line(split, model):
    folder, broken = split
    loader = build_loader(FinetuneDataset(folder / "test.csv", "test", **VIEWS), 4, False)
    with pytest.raises(DataLoadError) as error:
        evaluate(model, loader, torch.device("cpu"), 7, desc="test", strict=True)
    assert broken in str(error.value) and "--strict_eval" in str(error.value) and "\n" not in str(error.value)


def test_training_still_replaces_the_unreadable_video(split):
    folder, broken = split
    train = FinetuneDataset(folder / "test.csv", "train", **VIEWS, aa=None, max_fail_fraction=0.5)
    labels = [train[i][1] for i in range(len(train))]
    assert len(labels) == 7 and train.failures.count == 1


def test_a_video_unreadable_from_one_view_on_is_left_out_whole(split, model, monkeypatch):
    """A video whose second temporal segment fails gets no prediction from its first one alone."""
    folder, _ = split
    dataset = FinetuneDataset(folder / "val.csv", "test", **VIEWS)
    load = dataset._load

    def second_view_of_video_3_fails(index):
        if index == 3 * dataset.num_views + 1:
            from datasets.video_io import VideoReadError

            raise VideoReadError(dataset.samples[3].path, "frames past 12 cannot be decoded")
        return load(index)

    monkeypatch.setattr(dataset, "_load", second_view_of_video_3_fails)
    metrics, table = evaluate(model, build_loader(dataset, 4, False), torch.device("cpu"), 7)
    assert metrics["unreadable"] == [dataset.samples[3].path] and 3 not in table["video"].tolist()
    assert metrics["num_samples"] == 6


def run(*args):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, env=env, capture_output=True, text=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_finetuning_eval_reports_the_video_it_left_out(split, model, tmp_path):
    from engine.aggregate import fold_table
    from engine.checkpoint import save_checkpoint

    folder, broken = split
    save_checkpoint(tmp_path / "model.pth", model, 0)
    args = ["run_finetuning.py", "--model", "lgi_former_tiny_patch16_64", "--depth", "1", "--input_size", "64",
            "--short_side_size", "64", "--data_set", "synthetic", "--data_path", folder, "--sampling_rate", "1",
            "--batch_size", "4", "--test_num_segment", "2", "--test_num_crop", "1", "--device", "cpu",
            "--num_workers", "0", "--eval", "--resume", tmp_path / "model.pth"]  # fmt: skip
    done = run(*args, "--output_dir", tmp_path / "split01")
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"on 6 of 7 videos; 1 unreadable: {broken}" in done.stdout
    metrics = json.loads((tmp_path / "split01" / "test_eval" / "metrics.json").read_text())
    assert metrics["unreadable"] == [broken] and metrics["num_samples"] == 6 and metrics["num_videos"] == 7
    with open(tmp_path / "split01" / "test_eval" / "pred.csv") as f:
        assert len(list(csv.DictReader(f))) == 6
    # Two processes (gloo): each rank reads its share, the unreadable video is gathered like the predictions.
    torchrun = ["-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={free_port()}"]
    ddp = run(*torchrun, *args, "--output_dir", tmp_path / "ddp")
    assert ddp.returncode == 0, ddp.stderr[-2000:]
    assert f"on 6 of 7 videos; 1 unreadable: {broken}" in ddp.stdout
    gathered = json.loads((tmp_path / "ddp" / "test_eval" / "metrics.json").read_text())
    for key in ("unreadable", "num_samples", "num_videos", "confusion_matrix"):
        assert gathered[key] == metrics[key], key
    shutil.copytree(tmp_path / "split01", tmp_path / "split02")
    metrics.update(num_samples=7, unreadable=[])
    (tmp_path / "split02" / "test_eval" / "metrics.json").write_text(json.dumps(metrics))
    table = fold_table([tmp_path / "split01", tmp_path / "split02"], "eval").splitlines()
    assert table[2].startswith("| split01 |") and table[2].endswith("| 6 of 7 (1 unreadable) |")
    assert table[3].startswith("| split02 |") and table[3].endswith("| 7 |")

    strict = run(*args, "--output_dir", tmp_path / "strict", "--strict_eval")
    # The decoders' own complaints (FFmpeg's "moov atom not found", decord's log) also reach stderr; ours is one line.
    errors = [line for line in strict.stderr.splitlines() if line.startswith("error: ")]
    assert strict.returncode == 1 and "Traceback" not in strict.stderr and len(errors) == 1, strict.stderr
    assert errors[0].startswith("error: test (eval): ") and broken in errors[0] and "--strict_eval" in errors[0]
