"""Shared by the tests of the inspection commands: a miniature generated set and tiny checkpoints, ours and in the
upstream layout (argparse args, no model_config), pretraining and fine-tuned."""

import argparse
import os
import socket
import subprocess
import sys
from pathlib import Path

import torch

from datasets.synthetic import generate
from engine.checkpoint import save_checkpoint
from models import create_model

ROOT = Path(__file__).resolve().parents[1]
SMALL = dict(input_size=64, num_frames=16, sampling_rate=2, lg_region_size=[8, 2, 4])


def tiny_data(out):
    """20 clips of 16 frames at 64 px, 5 folds (4 test, 4 val, 12 train clips each), labels 0-3."""
    generate(out, num_clips=20, num_pretrain=0, num_frames=16, size=64, seed=1, workers=1)
    return Path(out)


def our_pretrain(path):
    torch.manual_seed(0)
    model = create_model("pretrain_lgi_former_tiny_patch16_64", depth=1, decoder_depth=1)
    args = argparse.Namespace(sampling_rate=2, mask_type="part_window", mask_ratio=0.9, part_win_size=[2, 2, 4])
    return save_checkpoint(path, model, 0, args=args)


def our_finetuned(path):
    torch.manual_seed(1)
    model = create_model("lgi_former_tiny_patch16_64", depth=1, num_classes=7, init_scale=1.0)
    return save_checkpoint(path, model, 0, args=argparse.Namespace(sampling_rate=2, data_set="synthetic"))


def upstream_pretrain(path):
    """A file as upstream's run_mae_pretraining.py writes it: weights under 'model', args, no model_config."""
    torch.manual_seed(2)
    name = "pretrain_videomae_base_dim512_no_depth_patch16_160"
    model = create_model(name, encoder_depth=1, decoder_depth=1, img_size=64, lg_region_size=[8, 2, 4])
    args = argparse.Namespace(
        model=name, encoder_depth=1, decoder_depth=1, attn_type="local_global", part_win_size=[2, 2, 4],
        mask_type="part_window", mask_ratio=0.9, normlize_target=True, use_frame_diff_as_target=True, **SMALL,
    )  # fmt: skip
    torch.save({"model": model.state_dict(), "optimizer": {}, "epoch": 99, "scaler": {}, "args": args}, path)
    return path


def upstream_finetuned(path):
    """A file as upstream's run_class_finetuning.py writes it."""
    torch.manual_seed(3)
    name = "vit_base_dim512_no_depth_patch16_160"
    model = create_model(name, depth=1, num_classes=7, img_size=64, lg_region_size=[8, 2, 4], init_scale=1.0)
    args = argparse.Namespace(
        model=name, nb_classes=7, depth=1, num_segments=1, tubelet_size=2, attn_type="local_global",
        lg_classify_token_type="region", data_set="DFEW", **SMALL,
    )  # fmt: skip
    torch.save({"model": model.state_dict(), "optimizer": {}, "epoch": 99, "scaler": {}, "args": args}, path)
    return path


def unreadable_video(path):
    Path(path).write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video" * 20)
    return Path(path)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_script(script, *args, nproc=1, check=True):
    """Run an entry script as a user would (under torchrun for nproc > 1); returns the CompletedProcess."""
    launcher = []
    if nproc > 1:
        launcher += ["-m", "torch.distributed.run", f"--nproc_per_node={nproc}", f"--master_port={free_port()}"]
    return run_python(*launcher, ROOT / script, *args, check=check)


def run_python(*args, check=True):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, env=env, capture_output=True, text=True)
    if check:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def assert_one_line_error(result, *fragments):
    """Exit status 1, no traceback, and one 'error: ...' line on stderr (its last) naming every fragment."""
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and result.stderr.rstrip().endswith(errors[0]), result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])
