"""The per-dataset scripts (shard packing and pretraining from shards included) check their inputs before launching
torchrun, and a failing rank's one-line error is the last thing they print."""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob("scripts/*/*.sh") if p.parent.name != "scripts")


def run(script, tmp_path, **env):
    environ = {k: v for k, v in os.environ.items() if k not in ("DATA_ROOT", "DATA_DIR", "DATA", "PRETRAINED")}
    return subprocess.run(["bash", script], cwd=tmp_path, env={**environ, **env}, capture_output=True, text=True)


def assert_one_line_error(done, *fragments):
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_missing_data_root_is_one_line(script, tmp_path):
    assert_one_line_error(run(ROOT / script, tmp_path, DATA_ROOT=str(tmp_path / "nowhere")), "nowhere is not a folder")


@pytest.mark.parametrize("script", SCRIPTS)
def test_missing_annotations_are_one_line(script, tmp_path):
    one_list = "pretrain" in script or "pack" in script  # one annotation file (DATA), or split folders (DATA_DIR)
    data = {"DATA": str(tmp_path / "none.csv")} if one_list else {"DATA_DIR": str(tmp_path / "none")}
    done = run(ROOT / script, tmp_path, DATA_ROOT=str(tmp_path), **data)
    assert_one_line_error(done, "is not a file", "prepare")


def test_a_failing_rank_ends_on_its_one_line_error(tmp_path):
    for split in ("split01", "split02", "split03", "split04", "split05"):
        (tmp_path / split).mkdir()
        for part in ("train", "val", "test"):
            (tmp_path / split / f"{part}.csv").write_text("missing_clip 16 0\n")
    done = run(ROOT / "scripts/dfew/finetune_lgi_former_base.sh", tmp_path, GPUS="1", DATA_DIR=str(tmp_path),
               DATA_ROOT=str(tmp_path), PRETRAINED="", MASTER_PORT="29587")  # fmt: skip
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "train.csv:1: path does not exist" in last
