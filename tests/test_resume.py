"""A run killed with SIGKILL and restarted with the same command ends exactly as the uninterrupted run: the same
final weights, checkpoint-best.pth, test_best/ and test_last/ results and log.txt epochs. The processes are real
and are killed from outside, when a line of their output appears (plus a delay, to land inside the next phase).
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from datasets.synthetic import generate

ROOT = Path(__file__).resolve().parents[1]
COMMON = ["--device", "cpu", "--num_workers", "0", "--pin_mem", "false", "--seed", "0", "--input_size", "64",
          "--sampling_rate", "1", "--warmup_epochs", "1", "--save_ckpt_freq", "2"]  # fmt: skip
FINETUNE = ["--model", "lgi_former_tiny_patch16_64", "--data_set", "synthetic", "--short_side_size", "64",
            "--batch_size", "4", "--epochs", "3", "--lr", "4e-3", "--mixup", "0", "--cutmix", "0", "--aa", "none",
            "--test_num_segment", "2", "--test_num_crop", "1"]  # fmt: skip
PRETRAIN = ["--model", "pretrain_lgi_former_tiny_patch16_64", "--batch_size", "2", "--epochs", "3", "--lr", "1e-3",
            "--mask_type", "part_window", "--part_win_size", "2", "2", "4"]  # fmt: skip
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic")
    generate(out, num_clips=35, num_pretrain=8, num_frames=16, size=64, seed=1, workers=1)
    return out


def command(script, data, out):
    if script == "run_finetuning.py":
        args = [*FINETUNE, "--data_path", str(data / "split01")]
    else:
        args = [*PRETRAIN, "--data_path", str(data / "pretrain.csv")]
    return [sys.executable, str(ROOT / script), *args, *COMMON, "--output_dir", str(out)]


def run(cmd):
    done = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def kill_after(cmd, line_start, written, delay, log):
    """Start the run; once it prints a line starting with `line_start` and (if given) a file matching the pattern
    `written` is in its output folder, wait `delay` seconds and SIGKILL it."""
    folder = Path(cmd[-1])
    with open(log, "w") as stderr:
        process = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=stderr, text=True)
        for line in process.stdout:
            if line.startswith(line_start):
                while written and not list(folder.glob(written)) and process.poll() is None:
                    time.sleep(0.005)
                time.sleep(delay)
                process.send_signal(signal.SIGKILL)
                break
        process.stdout.close()
        returncode = process.wait()
    assert returncode == -signal.SIGKILL, f"the run ended before the kill ({returncode}): {log.read_text()[-2000:]}"


@pytest.fixture(scope="module")
def uninterrupted(data, tmp_path_factory):
    """script -> output folder of the run without interruption (computed once per script)."""
    runs = {}

    def get(script):
        if script not in runs:
            runs[script] = tmp_path_factory.mktemp("uninterrupted")
            run(command(script, data, runs[script]))
        return runs[script]

    return get


def same_checkpoint(a, b):
    """Model, optimizer, scaler, EMA, epoch and best score equal bit for bit (args hold the output folder)."""
    a, b = (torch.load(p, map_location="cpu", weights_only=False) for p in (a, b))
    for key in ("model", "optimizer", "scaler", "model_ema", "epoch", "best"):
        assert (key in a) == (key in b), key
        if key in a:
            assert_equal(a[key], b[key], key)


def assert_equal(x, y, where):
    if torch.is_tensor(x):
        assert torch.equal(x, y), where
    elif isinstance(x, dict):
        assert x.keys() == y.keys(), where
        for k in x:
            assert_equal(x[k], y[k], f"{where}.{k}")
    elif isinstance(x, list | tuple):
        assert len(x) == len(y), where
        for i, (u, v) in enumerate(zip(x, y, strict=True)):
            assert_equal(u, v, f"{where}[{i}]")
    else:
        assert x == y, where


def epochs_logged(folder):
    """log.txt records without their wall times."""
    records = [json.loads(line) for line in (folder / "log.txt").read_text().splitlines()]
    return [{k: v for k, v in r.items() if not k.endswith("time_s")} for r in records]


def assert_same_outcome(reference, resumed):
    assert epochs_logged(resumed) == epochs_logged(reference)
    for checkpoint in sorted(reference.glob("checkpoint-*.pth")):
        same_checkpoint(checkpoint, resumed / checkpoint.name)
    for test in sorted(reference.glob("test_*")):
        for name in ("pred.csv", "metrics.json"):
            assert (resumed / test.name / name).read_text() == (test / name).read_text(), f"{test.name}/{name}"
    assert not list(resumed.glob(".*.tmp")), "a partial save was left behind"


# Before each kill: a line printed, then a file (a pattern), then seconds. An epoch ends: validation,
# checkpoint-best.pth if better, "epoch N: ..." printed, its log.txt line, checkpoint-N.pth. A checkpoint is written
# to .checkpoint-N.pth.*.tmp, then renamed: "*checkpoint-N.pth*" kills while it is written (or just after).
FINETUNE_KILLS = {
    "during an epoch": [("epoch 0:", "checkpoint-0.pth", 0.1)],
    "after the log line, writing the epoch checkpoint": [("epoch 1:", "*checkpoint-1.pth*", 0.0)],
    "during the final test": [("test [last checkpoint]", None, 0.0)],
    "twice: writing the first best checkpoint, then the last checkpoint": [
        ("training ", "*checkpoint-best.pth*", 0.0),
        ("epoch 2:", "*checkpoint-2.pth*", 0.0),
    ],
}


@pytest.mark.parametrize("kills", FINETUNE_KILLS.values(), ids=FINETUNE_KILLS.keys())
def test_killed_finetuning_resumes_to_the_uninterrupted_result(data, uninterrupted, tmp_path, kills):
    reference = uninterrupted("run_finetuning.py")
    cmd = command("run_finetuning.py", data, tmp_path / "run")
    for i, kill in enumerate(kills):
        kill_after(cmd, *kill, tmp_path / f"stderr{i}.txt")
    out = run(cmd)
    assert out.count("test [") == 2
    assert_same_outcome(reference, tmp_path / "run")
    same_checkpoint(reference / "checkpoint-best.pth", tmp_path / "run" / "checkpoint-best.pth")


def test_the_reference_run_keeps_a_best_checkpoint_other_than_the_last(uninterrupted):
    """Otherwise the fine-tuning tests above could not tell a restored best score from a reset one."""
    reference = uninterrupted("run_finetuning.py")
    best = torch.load(reference / "checkpoint-best.pth", map_location="cpu", weights_only=False)["best"]
    assert best["epoch"] < 2
    assert (reference / "test_best" / "pred.csv").read_text() != (reference / "test_last" / "pred.csv").read_text()


PRETRAIN_KILLS = {  # an epoch ends: "epoch N: ..." printed, its log.txt line, checkpoint-N.pth (engine.run.fit)
    "during an epoch": [("epoch 0:", "checkpoint-0.pth", 0.1)],
    "twice: in the first epoch, then writing the second checkpoint": [
        ("pretraining ", None, 0.2),
        ("epoch 0:", "*checkpoint-1.pth*", 0.0),
    ],
}


@pytest.mark.parametrize("kills", PRETRAIN_KILLS.values(), ids=PRETRAIN_KILLS.keys())
def test_killed_pretraining_resumes_to_the_uninterrupted_result(data, uninterrupted, tmp_path, kills):
    reference = uninterrupted("run_pretraining.py")
    cmd = command("run_pretraining.py", data, tmp_path / "run")
    for i, kill in enumerate(kills):
        kill_after(cmd, *kill, tmp_path / f"stderr{i}.txt")
    run(cmd)
    assert_same_outcome(reference, tmp_path / "run")
    assert sorted(p.name for p in (tmp_path / "run").glob("checkpoint-*.pth")) == [
        "checkpoint-1.pth",
        "checkpoint-2.pth",
    ]


def test_a_log_line_cut_short_or_after_the_checkpoint_is_dropped(tmp_path):
    from engine.logger import RunLogger

    logger = RunLogger(tmp_path)
    for epoch in range(3):
        logger.epoch({"epoch": epoch, "train_loss": 1.0 / (epoch + 1)})
    with open(tmp_path / "log.txt", "a") as f:
        f.write('{"epoch": 3, "train_lo')  # killed while writing
    logger.start_at(2)
    assert [json.loads(line)["epoch"] for line in (tmp_path / "log.txt").read_text().splitlines()] == [0, 1]
