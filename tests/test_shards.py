"""Packed shards (preprocess.pack_shards, datasets.shards): packing resumes after kill -9 to the same bytes; an
unreadable clip is logged, counted and left out; the shards give the same clips per epoch as the list; torchrun with
2 processes fetches every clip once per epoch; pretraining from shards killed in the middle of an epoch resumes to
the uninterrupted run's weights, and so does fine-tuning from shards; --num_sample gives N views of each decoded clip
on both paths."""

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from inspect_helpers import free_port
from test_resume import (
    COMMON,
    ENV,
    FINETUNE,
    PRETRAIN,
    ROOT,
    assert_same_outcome,
    epochs_logged,
    kill_after,
    run,
    same_checkpoint,
)

from datasets.annotations import read_annotations
from datasets.synthetic import generate
from datasets.video_dataset import FinetuneDataset, PretrainDataset
from engine.data import build_loader, start_epoch

PACK = [sys.executable, "-m", "preprocess.pack_shards", "--clips_per_part", "2"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic")
    generate(out, num_clips=0, num_pretrain=8, num_frames=16, size=64, seed=2, workers=1)
    return out


@pytest.fixture(scope="module")
def shards(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("packed") / "shards"
    run([*PACK, "--data_path", str(data / "pretrain.csv"), "--out", str(out), "--workers", "2"])
    return out


def files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_packing_killed_and_rerun_writes_the_same_bytes(data, shards, tmp_path):
    cmd = [*PACK, "--data_path", str(data / "pretrain.csv"), "--workers", "1", "--out", str(tmp_path / "shards")]
    kill_after(cmd, "part 1:", None, 0.0, tmp_path / "stderr.txt")
    assert not (tmp_path / "shards" / "index.json").exists()
    out = run(cmd)
    assert "(2 done before)" in out
    assert files(tmp_path / "shards") == files(shards)


def children(pid):
    return [int(c) for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()]


def running(pid):
    """False once the process has ended (a zombie included)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_for(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)
    return condition()


def test_a_held_folder_refuses_a_second_pack_and_a_pack_killed_alone_takes_its_workers(data, shards, tmp_path):
    """A second pack into a folder a live pack holds exits 1 with one line naming the holder. The packing process
    killed alone (as an out-of-memory kill does) takes its workers with it, and a rerun writes the same bytes as an
    uninterrupted pack."""
    out = tmp_path / "shards"
    cmd = [*PACK, "--data_path", str(data / "pretrain.csv"), "--workers", "2", "--out", str(out)]
    with open(tmp_path / "stderr.txt", "w") as stderr:
        first = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=stderr, text=True)
        assert first.stdout.readline().startswith("packing ")
        first.send_signal(signal.SIGSTOP)  # alive and holding the folder
        second = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True)
        first.send_signal(signal.SIGCONT)
        assert wait_for(lambda: len(children(first.pid)) >= 2 and list(out.glob(".part-*")))  # workers packing
        workers = children(first.pid)
        first.send_signal(signal.SIGKILL)
        assert first.wait() == -signal.SIGKILL
        first.stdout.close()
    holder = f"process {first.pid} on {socket.gethostname()} (pack_shards.py)"
    assert second.returncode == 1
    refusal = f"error: {out} is being written by {holder}; wait for it to end, or pick another folder"
    assert second.stderr.splitlines() == [refusal]
    assert wait_for(lambda: not any(running(w) for w in workers), timeout=10), "the workers outlived their parent"
    assert not (out / "index.json").exists()
    run(cmd)
    assert files(out) == files(shards)


def test_an_unreadable_clip_is_logged_counted_and_left_out(data, tmp_path):
    (tmp_path / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    lines = (data / "pretrain.csv").read_text().splitlines()[:3]
    listed = [f"{data / line.split()[0]} 0" for line in lines]
    (tmp_path / "list.txt").write_text("\n".join([listed[0], f"{tmp_path / 'broken.mp4'} 0", *listed[1:]]) + "\n")
    out = run([*PACK, "--data_path", str(tmp_path / "list.txt"), "--out", str(tmp_path / "shards")])
    assert f"unreadable, left out: {tmp_path / 'broken.mp4'}: " in out
    assert "packed 3 clips" in out and "1 unreadable" in out
    assert (tmp_path / "shards" / "unreadable.txt").read_text().startswith(str(tmp_path / "broken.mp4"))
    dataset = PretrainDataset(tmp_path / "shards", num_frames=4, input_size=32, window_size=(1, 2))
    assert [dataset.samples[i]["index"] for i in range(len(dataset))] == [0, 2, 3]


def test_shards_give_the_list_clips_per_epoch(data, shards):
    common = dict(num_frames=4, sampling_rate=1, input_size=32, window_size=(1, 2))
    listed = PretrainDataset(data / "pretrain.csv", **common)
    packed = PretrainDataset(shards, **common)
    root = data.resolve()
    paths = {id(listed): lambda s: Path(s.path).relative_to(root).as_posix(), id(packed): lambda s: s["path"]}
    for epoch in range(2):
        seen = []
        for dataset in (listed, packed):
            loader = build_loader(dataset, 3, True, seed=0)
            start_epoch(loader, epoch, 0)
            seen.append(sorted(paths[id(dataset)](dataset.samples[i]) for batch in loader.batch_sampler for i in batch))
        assert seen[0] == seen[1] and len(seen[0]) == 6
    listed_frames, packed_frames = (d._open(5)[0] for d in (listed, packed))
    assert len(listed_frames) == len(packed_frames)
    listed_frames, packed_frames = (v.read(range(len(v))).astype(int) for v in (listed_frames, packed_frames))
    assert np.abs(listed_frames - packed_frames).mean() < 4  # JPEG (quality 95, 4:2:0) of the decoded mp4


def test_torchrun_with_two_processes_fetches_every_clip_once_per_epoch(shards):
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={free_port()}"]
    epochs = json.loads(run([*launcher, str(ROOT / "tests" / "shard_epochs.py"), str(shards)]).splitlines()[-1])
    everything = sorted(json.loads((shards / "parts" / f"{p:05d}.json").read_text())["clips"] for p in range(4))
    assert everything == [2, 2, 2, 2]
    for ranks in epochs:
        assert len(ranks[0]) == len(ranks[1]) == 4
        assert sorted(ranks[0] + ranks[1]) == sorted(f"pretrain/clip_{i:05d}.mp4" for i in range(8))
    assert epochs[0] != epochs[1]


@pytest.mark.parametrize("source", ["list", "shards"])
def test_num_sample_gives_n_views_of_one_decode(data, shards, source):
    path = data / "pretrain.csv" if source == "list" else shards
    dataset = PretrainDataset(path, num_frames=4, sampling_rate=1, input_size=32, window_size=(1, 2), num_sample=3)
    videos, masks = next(iter(build_loader(dataset, 2, True, seed=0)))
    assert videos.shape == (6, 4, 32, 32, 3) and masks.shape == (6, 8)
    assert not torch.equal(videos[0], videos[1])  # each view its own crop
    labelled = data / "labelled.csv"
    labelled.write_text("".join(f"{s.path} {i % 7}\n" for i, s in enumerate(read_annotations(data / "pretrain.csv"))))
    train = FinetuneDataset(labelled, "train", 7, num_frames=4, sampling_rate=1, input_size=32, num_sample=2)
    videos, labels, erase = next(iter(build_loader(train, 2, True, seed=0)))
    assert videos.shape == (4, 4, 32, 32, 3) and erase.shape == (4, 5)
    assert labels[0] == labels[1] and labels[2] == labels[3]


def pretrain_command(shards, out):
    args = [*PRETRAIN, "--data_path", str(shards), "--save_every_steps", "1", "--num_sample", "2"]
    return [sys.executable, str(ROOT / "run_pretraining.py"), *args, *COMMON, "--output_dir", str(out)]


def killed_mid_epoch_and_rerun(cmd, banner, out, tmp_path):
    """Run `cmd` (writing to `out`) until its first mid-epoch checkpoint, kill -9 it there, run it again: the
    progress the rerun resumed from (it says so)."""
    kill_after(cmd, banner, "checkpoint-step.pth", 0.0, tmp_path / "stderr.txt")
    progress = torch.load(out / "checkpoint-step.pth", weights_only=False)["progress"]
    assert f"next epoch {progress['epoch']} after its batch {progress['batches']}" in run(cmd)
    return progress


def test_pretraining_from_shards_killed_mid_epoch_ends_as_the_uninterrupted_run(shards, tmp_path):
    reference = tmp_path / "reference"
    run(pretrain_command(shards, reference))
    progress = killed_mid_epoch_and_rerun(
        pretrain_command(shards, tmp_path / "run"), "pretraining ", tmp_path / "run", tmp_path
    )
    assert 0 < progress["batches"] < 4
    assert epochs_logged(tmp_path / "run") == epochs_logged(reference)
    for checkpoint in sorted(reference.glob("checkpoint-*.pth")):
        same_checkpoint(checkpoint, tmp_path / "run" / checkpoint.name)
    assert not (tmp_path / "run" / "checkpoint-step.pth").exists()


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """Labelled clips in 5 folds, and split01's training list packed into train_shards/."""
    out = tmp_path_factory.mktemp("labelled")
    generate(out, num_clips=14, num_pretrain=0, num_frames=16, size=64, seed=3, workers=1)
    run([*PACK, "--data_path", str(out / "split01" / "train.csv"), "--out", str(out / "train_shards")])
    return out


def finetune_command(data, out):
    args = [*FINETUNE, "--data_path", str(data / "split01"), "--train_shards", str(data / "train_shards"),
            "--epochs", "2", "--batch_size", "2", "--save_every_steps", "1", "--num_sample", "2"]  # fmt: skip
    return [sys.executable, str(ROOT / "run_finetuning.py"), *args, *COMMON, "--output_dir", str(out)]


def test_finetuning_from_shards_killed_mid_epoch_ends_as_the_uninterrupted_run(labelled, tmp_path):
    reference = tmp_path / "reference"
    run(finetune_command(labelled, reference))
    progress = killed_mid_epoch_and_rerun(
        finetune_command(labelled, tmp_path / "run"), "training ", tmp_path / "run", tmp_path
    )
    batches = len(read_annotations(labelled / "split01" / "train.csv")) // 2
    assert 0 < progress["batches"] < batches
    assert_same_outcome(reference, tmp_path / "run")
    assert not (tmp_path / "run" / "checkpoint-step.pth").exists()
