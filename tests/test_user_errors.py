"""The documented commands, each with a mistake a new user makes: one line on stderr saying what is wrong (no
traceback, no warning on the side) and exit code 1. No --num_workers and no --pin_mem: the defaults must fit
the machine without a warning."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from datasets.synthetic import generate

ROOT = Path(__file__).resolve().parents[1]
FINETUNE = ["run_finetuning.py", "--model", "lgi_former_tiny_patch16_64", "--input_size", "64", "--data_set",
            "synthetic", "--batch_size", "4", "--epochs", "1", "--device", "cpu"]  # fmt: skip
PRETRAIN = ["run_pretraining.py", "--model", "pretrain_lgi_former_tiny_patch16_64", "--input_size", "64",
            "--part_win_size", "2", "2", "4", "--device", "cpu"]  # fmt: skip


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The generated set, and broken checkpoints: a download cut short, a Git LFS pointer, an empty file."""
    root = tmp_path_factory.mktemp("mistakes")
    generate(root / "data", num_clips=35, num_pretrain=4, num_frames=16, size=64, seed=3, workers=1)
    from engine.checkpoint import save_checkpoint
    from models import create_model

    whole = save_checkpoint(root / "whole.pth", create_model("lgi_former_tiny_patch16_64", depth=1), 0).read_bytes()
    (root / "truncated.pth").write_bytes(whole[: len(whole) // 3])
    (root / "pointer.pth").write_text("version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 10\n")
    (root / "empty.pth").write_bytes(b"")
    return root


MISTAKES = {
    "finetune: --data_path is the dataset root, not a split folder": (
        lambda r: [*FINETUNE, "--data_path", r / "data"],
        "holds no train.csv or test.csv: it should hold train.csv",
    ),
    "finetune: --data_path does not exist": (
        lambda r: [*FINETUNE, "--data_path", r / "nowhere"],
        "nowhere is not a folder: it should hold train.csv",
    ),
    "finetune: --finetune file missing": (
        lambda r: [*FINETUNE, "--data_path", r / "data/split01", "--finetune", r / "missing.pth"],
        "missing.pth: checkpoint file not found",
    ),
    "finetune: --finetune download cut short": (
        lambda r: [*FINETUNE, "--data_path", r / "data/split01", "--finetune", r / "truncated.pth"],
        "truncated.pth: not a PyTorch checkpoint (truncated zip archive)",
    ),
    "finetune: --resume a Git LFS pointer": (
        lambda r: [*FINETUNE, "--data_path", r / "data/split01", "--resume", r / "pointer.pth"],
        "pointer.pth: not a PyTorch checkpoint (a Git LFS pointer",
    ),
    "finetune: --eval with nothing to test": (
        lambda r: [*FINETUNE, "--data_path", r / "data/split01", "--eval", "--output_dir", r / "empty_run"],
        "--eval needs a checkpoint",
    ),
    "pretrain: --data_path file missing": (
        lambda r: [*PRETRAIN, "--data_path", r / "data/pretrain_list.csv"],
        "pretrain_list.csv: annotation file not found",
    ),
    "pretrain: --data_path is a folder": (
        lambda r: [*PRETRAIN, "--data_path", r / "data"],
        "data: is a folder, not an annotation file",
    ),
    "pretrain: --resume an empty file": (
        lambda r: [*PRETRAIN, "--data_path", r / "data/pretrain.csv", "--resume", r / "empty.pth"],
        "empty.pth: not a PyTorch checkpoint (an empty file)",
    ),
    "aggregate: a run that did not finish": (
        lambda r: ["-m", "engine.aggregate", r / "data"],
        "test_last/metrics.json: no test metrics",
    ),
    "export: a checkpoint cut short": (
        lambda r: ["-m", "engine.checkpoint", r / "truncated.pth", r / "out.pth"],
        "truncated.pth: not a PyTorch checkpoint (truncated zip archive)",
    ),
}


@pytest.mark.parametrize("mistake", MISTAKES.values(), ids=MISTAKES.keys())
def test_a_mistake_is_one_line_and_exit_code_1(files, mistake):
    argv, expected = mistake
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, *map(str, argv(files))], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 1, done.stderr[-3000:]
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: "), done.stderr[-3000:]
    assert expected in done.stderr


def legacy_checkpoint_cut_short():
    import io

    import torch

    buffer = io.BytesIO()
    torch.save({"model": {"w": torch.ones(100)}}, buffer, _use_new_zipfile_serialization=False)
    return buffer.getvalue()[:-50]


BROKEN = {
    "html": (b"<!DOCTYPE html><html><body>Sign in</body></html>", "an HTML page"),
    "text": (b"model weights are at https://example.org/x.pth\n", "a text file"),
    "legacy": (legacy_checkpoint_cut_short(), "truncated or damaged file in the legacy (pre-zip) format"),
    "zip": (b"PK\x03\x04" + bytes(range(200)), "truncated zip archive"),
    "npy": (b"\x93NUMPY\x01\x00" + bytes(100), "a NumPy array file"),
}


@pytest.mark.parametrize("content, kind", BROKEN.values(), ids=BROKEN.keys())
def test_a_broken_checkpoint_is_named_for_what_it_is(tmp_path, content, kind):
    from models import CheckpointError, read_checkpoint

    (tmp_path / "model.pth").write_bytes(content)
    with pytest.raises(CheckpointError) as error:
        read_checkpoint(tmp_path / "model.pth")
    assert str(error.value).startswith(f"{tmp_path / 'model.pth'}: not a PyTorch checkpoint ({kind}")
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint \\(a folder\\)"):
        read_checkpoint(tmp_path)
