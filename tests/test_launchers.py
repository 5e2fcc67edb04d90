"""The shell launchers as a user runs them: their checks before torchrun (one line for what is missing, a failing
rank's one-line error last), and the path from a fresh checkout to the fold table on miniature copies of the official
DFEW and VoxCeleb2 layouts: preprocessing, the pretraining script, then a fine-tuning script whose default PRETRAINED
is that pretraining's checkpoint."""

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from datasets.synthetic import render_clip
from datasets.video_io import write_video

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob("scripts/*/*.sh") if p.parent.name != "scripts")
VARIABLES = ("NNODES", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT", "GPUS", "BATCH", "UPDATE_FREQ", "WORKERS", "SIZE",
             "EPOCHS", "DEVICE", "DATA_ROOT", "DATA_DIR", "DATA", "SHARDS", "OUTPUT", "PRETRAINED", "FOLDS",
             "VAL_SPLIT", "SAVE_STEPS", "PYTHON")  # fmt: skip


def run(script, cwd, **env):
    environ = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    return subprocess.run(["bash", script], cwd=cwd, env={**environ, **env}, capture_output=True, text=True)


def data_root_variable(script):
    return "SHARDS" if script.endswith("pretrain_lgi_former_base_shards.sh") else "DATA_ROOT"  # the packed clips


def assert_one_line_error(done, *fragments):
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_missing_data_root_is_one_line(script, tmp_path):
    done = run(ROOT / script, tmp_path, **{data_root_variable(script): str(tmp_path / "nowhere")})
    assert_one_line_error(done, "nowhere is not a folder")


@pytest.mark.parametrize("script", [s for s in SCRIPTS if data_root_variable(s) == "DATA_ROOT"])
def test_an_unset_data_root_says_what_to_set(script, tmp_path):
    assert_one_line_error(run(ROOT / script, tmp_path), "set DATA_ROOT to the ")


@pytest.mark.parametrize("script", SCRIPTS)
def test_missing_annotations_are_one_line(script, tmp_path):
    one_list = "pretrain" in script or "pack" in script  # one annotation file (DATA), or split folders (DATA_DIR)
    data = {"DATA": str(tmp_path / "none.csv")} if one_list else {"DATA_DIR": str(tmp_path / "none")}
    done = run(ROOT / script, tmp_path, **{data_root_variable(script): str(tmp_path)}, **data)
    assert_one_line_error(done, "is not a file", "prepare")


@pytest.mark.parametrize("variable, value", [("GPUS", "0"), ("BATCH", "x"), ("UPDATE_FREQ", "1.5")])
def test_a_count_that_is_not_a_whole_number_is_one_line(variable, value, tmp_path):
    (tmp_path / "list.csv").write_text("clip.mp4 0\n")
    done = run(ROOT / "scripts/voxceleb2/pretrain_lgi_former_base.sh", tmp_path, DATA_ROOT=str(tmp_path),
               DATA=str(tmp_path / "list.csv"), **{variable: value})  # fmt: skip
    assert_one_line_error(done, f"{variable}={value}: expected a whole number")


def test_a_failing_rank_ends_on_its_one_line_error(tmp_path):
    for split in ("split01", "split02", "split03", "split04", "split05"):
        (tmp_path / split).mkdir()
        for part in ("train", "val", "test"):
            (tmp_path / split / f"{part}.csv").write_text("missing_clip 16 0\n")
    done = run(ROOT / "scripts/dfew/finetune_lgi_former_base.sh", tmp_path, GPUS="1", DATA_DIR=str(tmp_path),
               DATA_ROOT=str(tmp_path), PRETRAINED="", DEVICE="cpu", MASTER_PORT=str(free_port()))  # fmt: skip
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "train.csv:1: path does not exist" in last


# ---------------------------------------------------------------------------------------------------------
# From a fresh checkout to the fold table


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_checkout(folder):
    """A copy of the scripts beside links to everything else, without saved/: the launchers write there."""
    folder.mkdir()
    for entry in ROOT.iterdir():
        if entry.name == "scripts":
            subprocess.run(["cp", "-r", str(entry), str(folder / "scripts")], check=True)
        elif entry.name not in ("saved", ".git"):
            (folder / entry.name).symlink_to(entry)
    return folder


def make_voxceleb2(root, clips=2):
    """dev/mp4/<speaker>/<video>/<clip>.mp4, 20 frames of a generated talking face each."""
    for i in range(clips):
        path = root / f"dev/mp4/id{i:05d}/video{i}/00001.mp4"
        path.parent.mkdir(parents=True)
        write_video(path, render_clip(seed=i, label=2, num_frames=20, size=160))


def make_dfew(root, clips=10):
    """The official layout: EmoLabel_DataSplit/{train,test}(single-labeled)/set_k.csv, Clip/clip_224x224/<id:05d>/,
    clip i of class (i % 7) + 1 and in fold (i % 5) + 1's test list."""
    for k in range(1, 6):
        for part in ("train", "test"):
            ids = [i for i in range(1, clips + 1) if (i % 5 == k - 1) == (part == "test")]
            folder = root / "EmoLabel_DataSplit" / f"{part}(single-labeled)"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"set_{k}.csv").write_text("video_name,label\n" + "".join(f"{i},{i % 7 + 1}\n" for i in ids))
    for i in range(1, clips + 1):
        frames = root / f"Clip/clip_224x224/{i:05d}"
        frames.mkdir(parents=True)
        for t, frame in enumerate(render_clip(seed=i, label=i % 7, num_frames=12, size=64), 1):
            cv2.imwrite(str(frames / f"{i:05d}_{t}.jpg"), frame[..., ::-1])


def test_pretraining_then_finetuning_with_the_defaults_ends_in_the_fold_table(tmp_path):
    checkout = fresh_checkout(tmp_path / "checkout")
    make_voxceleb2(tmp_path / "VoxCeleb2")
    make_dfew(tmp_path / "DFEW")
    for dataset, root in (("voxceleb2", "VoxCeleb2"), ("dfew", "DFEW")):
        command = [sys.executable, "-m", f"preprocess.{dataset}", "--root", str(tmp_path / root)]
        done = subprocess.run([*command, "--out", f"saved/data/{dataset}"], cwd=checkout, capture_output=True)
        assert done.returncode == 0, done.stderr
    # The tiny model on CPU, 2 processes; 50 epochs of one step write checkpoint-49.pth, the released epoch.
    size = dict(SIZE="tiny", GPUS="2", WORKERS="0", DEVICE="cpu", OMP_NUM_THREADS="1")
    done = run("scripts/voxceleb2/pretrain_lgi_former_base.sh", checkout, DATA_ROOT=str(tmp_path / "VoxCeleb2"),
               BATCH="1", EPOCHS="50", MASTER_PORT=str(free_port()), **size)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "total batch NNODES x GPUS x BATCH x UPDATE_FREQ = 1 x 2 x 1 x 1 = 2" in done.stdout
    assert "note: the paper's total batch is 160" in done.stdout
    pretrained = "saved/model/pretraining/voxceleb2/lgi_former_tiny/checkpoint-49.pth"
    assert (checkout / pretrained).is_file()

    done = run("scripts/dfew/finetune_lgi_former_base.sh", checkout, DATA_ROOT=str(tmp_path / "DFEW"), BATCH="2",
               EPOCHS="2", FOLDS="split01 split02", MASTER_PORT=str(free_port()), **size)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stdout.count(f"initialising from {pretrained}") == 2
    table = done.stdout[done.stdout.index("| run (last checkpoint) |") :].splitlines()
    assert [row.split(" | ")[0] for row in table[2:]] == ["| split01", "| split02", "| mean", "| std"]
    assert all(re.fullmatch(r"\| \w+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \| 2 \|", row) for row in table[2:4]), table
    for fold in ("split01", "split02"):
        assert (checkout / f"saved/model/finetuning/dfew/lgi_former_tiny/{fold}/test_best/metrics.json").is_file()
