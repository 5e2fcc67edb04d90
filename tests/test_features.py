"""extract_features.py / inspection.features: what the features are, identical reruns, kill and resume, torchrun,
upstream checkpoints, unreadable videos and bad inputs."""

import csv
import json

import numpy as np
import pytest
import torch
from inspect_helpers import (
    assert_one_line_error,
    our_finetuned,
    our_pretrain,
    run_python,
    run_script,
    tiny_data,
    unreadable_video,
    upstream_finetuned,
    upstream_pretrain,
)

from datasets.annotations import read_annotations
from datasets.transforms import normalize
from datasets.video_dataset import DataLoadError, FinetuneDataset
from engine.data import build_loader
from engine.evaluate import evaluate
from inspection.features import FeatureError, FeatureSettings, extract_features, load_features
from models.pretrained import encoder_from_checkpoint

SETTINGS = FeatureSettings(test_num_segment=2, test_num_crop=1, batch_size=3, shard_size=1)
FLAGS = ["--device", "cpu", "--num_workers", "0", "--pin_mem", "false", "--test_num_crop", "1", "--batch_size", "3"]

# Runs extract_features.py and kills itself (SIGKILL) right after its second shard is on disk.
KILLED_AFTER_TWO_SHARDS = """
import os, runpy, signal, sys
import inspection.features as features
written, write = [], features._write_shard
def write_then_die(folder, index, arrays):
    write(folder, index, arrays)
    written.append(index)
    if len(written) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
features._write_shard = write_then_die
sys.argv = ["extract_features.py", *sys.argv[1:]]
runpy.run_path("extract_features.py", run_name="__main__")
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("features")
    data = tiny_data(root / "data")
    broken = unreadable_video(root / "data" / "broken.mp4")
    with_broken = data / "split01" / "with_broken.csv"  # beside test.csv: its relative paths still resolve
    with_broken.write_text((data / "split01" / "test.csv").read_text() + f"{broken} 1\n")
    return {
        "data": data,
        "test": data / "split01" / "test.csv",
        "with_broken": with_broken,
        "ours": our_pretrain(root / "ours.pth"),
        "finetuned": our_finetuned(root / "finetuned.pth"),
        "upstream_pretrain": upstream_pretrain(root / "upstream_pretrain.pth"),
        "upstream_finetuned": upstream_finetuned(root / "upstream_finetuned.pth"),
    }


def folder_contents(folder):
    """Every array of every shard and the index, for exact comparison."""
    contents = {p.relative_to(folder).as_posix(): np.load(p) for p in sorted(folder.glob("shard_*/*.npy"))}
    contents["index.csv"] = (folder / "index.csv").read_text()
    return contents


def assert_identical(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert np.array_equal(a[key], b[key]) if key != "index.csv" else a[key] == b[key], key


def test_features_are_the_encoder_tokens_averaged_over_the_test_views(files, tmp_path):
    folder = extract_features(files["ours"], files["test"], tmp_path / "features", SETTINGS)
    features = load_features(folder)
    samples = read_annotations(files["test"])
    assert features["path"] == [s.path for s in samples] and features["label"].tolist() == [s.label for s in samples]
    assert features["region"].shape == (4, 2, 128) and features["local"].shape == (4, 8, 128)
    assert features["num_views"].tolist() == [2, 2, 2, 2]
    with open(folder / "index.csv", newline="") as f:
        assert [int(r["shard"]) for r in csv.DictReader(f)] == [0, 1, 2, 3]

    encoder = encoder_from_checkpoint(files["ours"])
    dataset = FinetuneDataset(files["test"], "test", None, num_frames=16, sampling_rate=2, input_size=64,
                              short_side_size=64, test_num_segment=2, test_num_crop=1)  # fmt: skip
    video = 3
    clips = torch.stack([dataset[video * 2 + view][0] for view in range(2)])  # both views of one video
    with torch.no_grad():
        x, order = encoder.trunk.forward_features(normalize(clips))  # 2, M, S, C
    assert torch.allclose(torch.from_numpy(features["region"][video]), x[:, :, 0].mean(0), atol=1e-5)
    local, time = x[:, :, 1:].flatten(1, 2), order[0] // 16  # tokens in encoder order, their time slice
    for t in range(8):
        expected = local[:, time == t].mean(1).mean(0)
        assert torch.allclose(torch.from_numpy(features["local"][video, t]), expected, atol=1e-5), t


def test_twice_after_a_kill_and_under_torchrun_the_features_are_identical(files, tmp_path):
    args = [files["ours"], "--data_path", files["test"], "--shard_size", "1", *FLAGS]
    run_script("extract_features.py", *args, "--output_dir", tmp_path / "first")
    run_script("extract_features.py", *args, "--output_dir", tmp_path / "second")
    first = folder_contents(tmp_path / "first")
    assert len([k for k in first if k.endswith("region.npy")]) == 4
    assert_identical(first, folder_contents(tmp_path / "second"))

    killed = tmp_path / "killed"
    result = run_python("-c", KILLED_AFTER_TWO_SHARDS, *args, "--output_dir", killed, check=False)
    assert result.returncode != 0  # SIGKILL
    assert sorted(p.name for p in killed.glob("shard_*")) == ["shard_00000", "shard_00001"]
    assert not (killed / "index.csv").exists() and not json.loads((killed / "features.json").read_text())["complete"]
    with pytest.raises(FeatureError, match="did not finish"):
        load_features(killed)
    kept = {p.name: p.stat().st_mtime_ns for p in killed.glob("shard_*/*.npy")}
    (killed / ".shard_00002.12345.tmp").mkdir()  # a shard the kill cut short
    (killed / ".shard_00002.12345.tmp" / "region.npy").write_bytes(b"partial")
    out = run_script("extract_features.py", *args, "--output_dir", killed).stdout
    assert "features of 4 of 4 videos in 4 shards" in out
    assert {p.name: p.stat().st_mtime_ns for p in killed.glob("shard_0000[01]/*.npy")} == kept  # finished: kept
    assert not list(killed.glob(".shard_*"))
    assert_identical(first, folder_contents(killed))

    run_script("extract_features.py", *args, "--output_dir", tmp_path / "torchrun", nproc=2)
    assert_identical(first, folder_contents(tmp_path / "torchrun"))


def test_a_resumed_folder_must_have_the_same_settings(files, tmp_path):
    extract_features(files["ours"], files["test"], tmp_path, SETTINGS)
    other = FeatureSettings(test_num_segment=1, test_num_crop=1, shard_size=1)
    with pytest.raises(FeatureError, match="test_num_segment differ"):
        extract_features(files["ours"], files["test"], tmp_path, other)


def test_upstream_pretraining_checkpoint(files, tmp_path):
    features = load_features(extract_features(files["upstream_pretrain"], files["test"], tmp_path, SETTINGS))
    assert features["region"].shape == (4, 2, 512) and features["local"].shape == (4, 8, 512)
    assert np.isfinite(features["local"]).all() and features["local"].std() > 0


@pytest.mark.parametrize("checkpoint", ["finetuned", "upstream_finetuned"])
def test_fine_tuned_checkpoints_and_their_head_agree_with_the_test_pipeline(files, tmp_path, checkpoint):
    settings = FeatureSettings(test_num_segment=2, test_num_crop=1, shard_size=3, with_head=True)
    features = load_features(extract_features(files[checkpoint], files["test"], tmp_path, settings))
    assert features["probs"].shape == (4, 7) and features["region"].shape[1] == 2
    encoder = encoder_from_checkpoint(files[checkpoint])
    dataset = FinetuneDataset(files["test"], "test", 7, num_frames=16, sampling_rate=2, input_size=64,
                              short_side_size=64, test_num_segment=2, test_num_crop=1)  # fmt: skip
    _, table = evaluate(encoder.classifier, build_loader(dataset, 3, False), torch.device("cpu"), 7)
    assert np.allclose(features["probs"], table["probs"].numpy(), atol=1e-6)


def test_an_unreadable_video_is_left_out_and_listed(files, tmp_path):
    folder = extract_features(files["ours"], files["with_broken"], tmp_path, SETTINGS)
    features = load_features(folder)
    assert len(features["path"]) == 4 and not any("broken" in p for p in features["path"])
    assert json.loads((folder / "features.json").read_text())["unreadable"] == [str(files["data"] / "broken.mp4")]
    assert features["unreadable"] == [str(files["data"] / "broken.mp4")]
    strict = FeatureSettings(test_num_segment=2, test_num_crop=1, shard_size=1, strict=True)
    with pytest.raises(DataLoadError, match="broken.mp4"):
        extract_features(files["ours"], files["with_broken"], tmp_path / "strict", strict)


@pytest.mark.parametrize("case", ["missing checkpoint", "head of a pretraining file", "unreadable video"])
def test_bad_inputs_get_one_line_errors(files, tmp_path, case):
    checkpoint, extra, fragment = {
        "missing checkpoint": (tmp_path / "nope.pth", [], "checkpoint file not found"),
        "head of a pretraining file": (files["ours"], ["--with_head"], "needs a fine-tuned classifier"),
        "unreadable video": (files["ours"], ["--strict_eval"], "broken.mp4"),
    }[case]
    data = files["with_broken"] if case == "unreadable video" else files["test"]
    result = run_script("extract_features.py", checkpoint, "--data_path", data, "--output_dir", tmp_path / "out",
                        *FLAGS, *extra, check=False)  # fmt: skip
    assert_one_line_error(result, fragment)


def test_a_split_folder_gives_a_features_folder_per_split(files, tmp_path):
    run_script("extract_features.py", files["ours"], "--data_path", files["data"] / "split02",
               "--output_dir", tmp_path, *FLAGS)  # fmt: skip
    sizes = {s: len(load_features(tmp_path / s)["label"]) for s in ("train", "val", "test")}
    assert sizes == {"train": 12, "val": 4, "test": 4}
