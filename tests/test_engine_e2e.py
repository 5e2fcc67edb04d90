"""End to end on a tiny generated set: entry scripts in one process and under torchrun (gloo, CPU),
exact resume, and --eval on an upstream-layout checkpoint."""

import argparse
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from datasets.synthetic import generate

ROOT = Path(__file__).resolve().parents[1]
COMMON = ["--device", "cpu", "--num_workers", "0", "--pin_mem", "false", "--seed", "3"]
FINETUNE = [
    "--model", "lgi_former_tiny_patch16_160", "--depth", "1", "--data_set", "synthetic",
    "--warmup_epochs", "1", "--lr", "5e-3", "--mixup", "0", "--cutmix", "0", "--smoothing", "0",
    "--drop_path", "0", "--test_num_segment", "2", "--test_num_crop", "1",
]  # fmt: skip
PRETRAIN = ["--model", "pretrain_lgi_former_tiny_patch16_160", "--encoder_depth", "1", "--decoder_depth", "1",
            "--sampling_rate", "1", "--warmup_epochs", "1", "--lr", "1e-3"]  # fmt: skip


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic")
    generate(out, num_clips=20, num_pretrain=8, num_frames=16, size=64, seed=1, workers=1)
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(script, args, nproc=1):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    launcher = [sys.executable]
    if nproc > 1:
        launcher += ["-m", "torch.distributed.run", f"--nproc_per_node={nproc}", f"--master_port={free_port()}"]
    result = subprocess.run([*launcher, str(ROOT / script), *args], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def weights(path):
    return torch.load(path, map_location="cpu", weights_only=False)["model"]


def assert_same_weights(a, b, atol):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=atol), (key, (a[key] - b[key]).abs().max())


def log_lines(folder):
    return [json.loads(line) for line in (folder / "log.txt").read_text().splitlines()]


def test_finetune_epoch_is_the_same_in_one_process_and_under_torchrun(data, tmp_path):
    args = [*FINETUNE, *COMMON, "--data_path", str(data / "split01"), "--epochs", "1"]
    run("run_finetuning.py", [*args, "--batch_size", "4", "--output_dir", str(tmp_path / "one")])
    run("run_finetuning.py", [*args, "--batch_size", "2", "--output_dir", str(tmp_path / "two")], nproc=2)
    one, two = (json.loads((tmp_path / d / "test_last" / "metrics.json").read_text()) for d in ("one", "two"))
    assert one["num_samples"] == two["num_samples"] == 4
    for key in ("uar", "war", "macro_f1"):
        assert one[key] == pytest.approx(two[key]), key
    assert one["confusion_matrix"] == two["confusion_matrix"]
    assert log_lines(tmp_path / "one")[0]["train_loss"] == pytest.approx(log_lines(tmp_path / "two")[0]["train_loss"])
    assert_same_weights(weights(tmp_path / "one/checkpoint-0.pth"), weights(tmp_path / "two/checkpoint-0.pth"), 1e-5)
    for name in ("pred.csv", "metrics.json", "confusion_matrix.png"):
        assert (tmp_path / "one" / "test_last" / name).stat().st_size > 0


def test_pretrain_epoch_is_the_same_in_one_process_and_under_torchrun(data, tmp_path):
    args = [*PRETRAIN, *COMMON, "--data_path", str(data / "pretrain.csv"), "--epochs", "1"]
    run("run_pretraining.py", [*args, "--batch_size", "4", "--output_dir", str(tmp_path / "one")])
    run("run_pretraining.py", [*args, "--batch_size", "2", "--output_dir", str(tmp_path / "two")], nproc=2)
    one, two = log_lines(tmp_path / "one")[0], log_lines(tmp_path / "two")[0]
    for key in ("train_loss", "train_appearance", "train_motion"):
        assert one[key] == pytest.approx(two[key], rel=1e-5), key
    assert_same_weights(weights(tmp_path / "one/checkpoint-0.pth"), weights(tmp_path / "two/checkpoint-0.pth"), 1e-5)


@pytest.mark.parametrize("script", ["run_finetuning.py", "run_pretraining.py"])
def test_resume_after_an_interruption_reproduces_the_uninterrupted_run(data, tmp_path, script):
    if script == "run_finetuning.py":
        args = [*FINETUNE, "--data_path", str(data / "split01"), "--batch_size", "4", "--aa", "rand-m7-n4-mstd0.5-inc1"]
    else:
        args = [*PRETRAIN, "--data_path", str(data / "pretrain.csv"), "--batch_size", "4"]
    args += [*COMMON, "--epochs", "2", "--save_ckpt_freq", "1"]
    run(script, [*args, "--output_dir", str(tmp_path / "straight")])
    run(script, [*args, "--output_dir", str(tmp_path / "interrupted")])
    (tmp_path / "interrupted" / "checkpoint-1.pth").unlink()  # the run died during its last epoch
    out = run(script, [*args, "--output_dir", str(tmp_path / "interrupted")])
    assert "resumed from" in out and "checkpoint-0.pth" in out
    assert_same_weights(
        weights(tmp_path / "straight/checkpoint-1.pth"), weights(tmp_path / "interrupted/checkpoint-1.pth"), 0
    )


def test_eval_tests_a_checkpoint_in_the_upstream_layout(data, tmp_path):
    args = [*FINETUNE, *COMMON, "--data_path", str(data / "split02"), "--batch_size", "4", "--epochs", "1"]
    run("run_finetuning.py", [*args, "--layer_decay", "1.0", "--output_dir", str(tmp_path / "train")])
    ours = torch.load(tmp_path / "train/checkpoint-0.pth", map_location="cpu", weights_only=False)
    upstream = {
        "model": ours["model"],
        "optimizer": ours["optimizer"],
        "epoch": 99,
        "scaler": {},
        "args": argparse.Namespace(model="lgi_former_tiny_patch16_160", nb_classes=7, depth=1),
    }
    torch.save(upstream, tmp_path / "checkpoint-99.pth")
    # --eval needs the weights only: the optimizer's parameter groups (--layer_decay 0.75 by default) may differ
    out = run("run_finetuning.py", [*args, "--eval", "--resume", str(tmp_path / "checkpoint-99.pth"),
                                    "--output_dir", str(tmp_path / "eval")])  # fmt: skip
    assert "test [eval checkpoint]" in out
    trained = json.loads((tmp_path / "train/test_last/metrics.json").read_text())
    evaluated = json.loads((tmp_path / "eval/test_eval/metrics.json").read_text())
    assert evaluated["uar"] == pytest.approx(trained["uar"]) and evaluated["war"] == pytest.approx(trained["war"])


def test_finetune_refuses_a_checkpoint_that_leaves_encoder_weights_missing(data, tmp_path):
    from engine.checkpoint import save_checkpoint
    from models import create_model

    save_checkpoint(tmp_path / "pt.pth", create_model("pretrain_lgi_former_tiny_patch16_160", depth=1), 0)
    args = [*FINETUNE, *COMMON, "--data_path", str(data / "split01"), "--batch_size", "4", "--epochs", "1"]
    args[args.index("--depth") + 1] = "2"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, str(ROOT / "run_finetuning.py"), *args, "--finetune", str(tmp_path / "pt.pth")],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 1
    assert "pt.pth: does not fit lgi_former_tiny_patch16_160, missing blocks.1." in result.stderr


@pytest.mark.parametrize("script", ["run_pretraining.py", "run_finetuning.py"])
def test_compiled_run_trains_the_same_weights_under_the_same_keys(data, tmp_path, script):
    if script == "run_finetuning.py":
        args = [*FINETUNE, "--data_path", str(data / "split01")]
    else:
        args = [*PRETRAIN, "--data_path", str(data / "pretrain.csv")]
    args += [*COMMON, "--epochs", "1", "--batch_size", "4"]
    run(script, [*args, "--output_dir", str(tmp_path / "eager")])
    run(script, [*args, "--output_dir", str(tmp_path / "compiled"), "--compile"])
    assert_same_weights(
        weights(tmp_path / "eager/checkpoint-0.pth"), weights(tmp_path / "compiled/checkpoint-0.pth"), 1e-4
    )
