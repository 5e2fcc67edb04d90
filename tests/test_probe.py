"""Linear probe and k-NN (inspection.probe, run_probe.py), the pretraining's own probe, and the quick-start bench."""

import json

import numpy as np
import pytest
from inspect_helpers import (
    assert_one_line_error,
    our_finetuned,
    our_pretrain,
    run_script,
    tiny_data,
    upstream_finetuned,
    upstream_pretrain,
)

import run_pretraining
import run_probe
from engine.aggregate import fold_table
from inspection.features import FeatureSettings, extract_features
from inspection.probe import ProbeError, feature_matrix, probe_split

SETTINGS = FeatureSettings(test_num_segment=2, test_num_crop=1, batch_size=4)


def fake_split(labels, local, seed):
    """Features of videos with the given labels: random region tokens, the given local tokens (V, t, C)."""
    rng = np.random.default_rng(seed)
    n = len(labels)
    return {
        "region": rng.normal(size=(n, 2, 4)).astype(np.float32),
        "local": local.astype(np.float32),
        "label": np.asarray(labels),
        "video": np.arange(n),
        "path": [f"clip_{i}" for i in range(n)],
    }


def clustered(n, seed):
    """3 classes whose mean local token sits at a different corner: linearly separable."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    centers = 4 * np.eye(3, 6)[labels]  # n, 6
    local = centers[:, None] + rng.normal(0, 0.3, (n, 4, 6))
    return fake_split(labels, local, seed)


def rising_or_falling(n, seed):
    """2 classes with the same mean local token: class 0 rises over time, class 1 falls."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    ramp = np.linspace(-1, 1, 8)[:, None] * np.where(labels == 0, 1, -1)[:, None, None]  # n, 8, 1
    local = ramp * rng.uniform(0.5, 1.5, (n, 1, 6)) + rng.normal(0, 0.2, (n, 8, 6))
    return fake_split(labels, local, seed)


@pytest.mark.parametrize("probe", ["linear", "knn"])
def test_probes_separate_separable_features_and_choose_on_val(probe):
    metrics, table, choice = probe_split(probe, "pooled", clustered(60, 0), clustered(30, 1), clustered(30, 2), 3)
    assert metrics["uar"] == 100.0 and metrics["war"] == 100.0 and metrics["macro_f1"] == 100.0
    assert table["probs"].shape == (30, 3) and np.allclose(table["probs"].sum(1), 1)
    assert choice["val_uar"] == 100.0 and ("C" in choice if probe == "linear" else "k" in choice)


def test_the_temporal_variant_sees_the_direction_of_a_change_that_pooling_averages_away():
    splits = [rising_or_falling(n, seed) for n, seed in ((80, 0), (40, 1), (40, 2))]
    pooled, _, _ = probe_split("linear", "pooled", *splits, 2)
    temporal, _, _ = probe_split("linear", "temporal", *splits, 2)
    assert pooled["uar"] < 75 and temporal["uar"] > 95
    assert feature_matrix(splits[0], "pooled").shape == (80, 4 + 6)
    assert feature_matrix(splits[0], "temporal").shape == (80, 4 + 6 + 6)


def test_the_head_probe_needs_head_features():
    split = clustered(9, 0)
    with pytest.raises(ProbeError, match="--with_head"):
        probe_split("head", None, split, split, split, 3)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("probe")
    return {
        "root": root,
        "data": tiny_data(root / "data"),
        "ours": our_pretrain(root / "ours.pth"),
        "finetuned": our_finetuned(root / "finetuned.pth"),
        "upstream_pretrain": upstream_pretrain(root / "upstream_pretrain.pth"),
        "upstream_finetuned": upstream_finetuned(root / "upstream_finetuned.pth"),
    }


def fold_features(files, checkpoint, folds, settings=SETTINGS):
    out = files["root"] / "features" / checkpoint
    for fold in folds:
        for split in ("train", "val", "test"):
            annotation = files["data"] / fold / f"{split}.csv"
            extract_features(files[checkpoint], annotation, out / fold / split, settings)
    return [out / fold for fold in folds]


@pytest.mark.parametrize("checkpoint", ["ours", "upstream_pretrain"])
def test_run_probe_reports_per_fold_and_aggregated_like_fine_tuning(files, tmp_path, checkpoint):
    folds = fold_features(files, checkpoint, ["split01", "split02"])
    args = [*map(str, folds), "--output_dir", str(tmp_path), "--data_set", "synthetic"]
    records = run_probe.main(run_probe.get_args(args))
    assert set(records) == {"linear_pooled", "linear_temporal", "knn_pooled", "knn_temporal"}
    for name in records:
        for fold in ("split01", "split02"):
            run = tmp_path / name / fold / "test_eval"
            metrics = json.loads((run / "metrics.json").read_text())
            assert metrics["classes"][0] == "happy" and metrics["num_samples"] == 4
            assert len(metrics["confusion_matrix"]) == 7 and metrics["probe"]["features"] == str(folds[0].parent / fold)
            assert (run / "confusion_matrix.png").stat().st_size > 0 and len(
                (run / "pred.csv").read_text().splitlines()
            ) == 5
    table = fold_table([tmp_path / "linear_pooled" / f for f in ("split01", "split02")], "eval")
    assert "| mean |" in table and table in (tmp_path / "summary.md").read_text()


@pytest.mark.parametrize("checkpoint", ["finetuned", "upstream_finetuned"])
def test_the_head_probe_of_fine_tuned_checkpoints(files, tmp_path, checkpoint):
    settings = FeatureSettings(test_num_segment=2, test_num_crop=1, batch_size=4, with_head=True)
    folds = fold_features(files, checkpoint, ["split03"], settings)
    records = run_probe.main(
        run_probe.get_args([str(folds[0]), "--output_dir", str(tmp_path), "--probe", "head", "linear"])
    )
    assert set(records) == {"head", "linear_pooled", "linear_temporal"}
    assert records["head"]["split03"]["num_videos"] == 4


@pytest.mark.parametrize("case", ["a checkpoint", "no features"])
def test_run_probe_refuses_what_is_not_a_features_folder(files, tmp_path, case):
    source, fragment = {
        "a checkpoint": (files["ours"], "is a file; give the folder extract_features.py wrote"),
        "no features": (tmp_path, "holds no train/ or test/ features"),
    }[case]
    result = run_script("run_probe.py", source, "--output_dir", tmp_path / "out", check=False)
    assert_one_line_error(result, fragment)


def test_pretraining_probes_itself_every_n_epochs(files, tmp_path):
    pool = files["data"] / "pool.csv"
    pool.write_text((files["data"] / "split01" / "train.csv").read_text().replace("../", ""))
    args = [
        "--model", "pretrain_lgi_former_tiny_patch16_64", "--input_size", "64", "--encoder_depth", "1",
        "--decoder_depth", "1", "--sampling_rate", "2", "--part_win_size", "2", "2", "4", "--warmup_epochs", "1",
        "--device", "cpu", "--num_workers", "0", "--pin_mem", "false", "--batch_size", "4", "--epochs", "2",
        "--data_path", str(pool), "--output_dir", str(tmp_path), "--log_dir", str(tmp_path / "tb"),
        "--probe_every", "2", "--probe_data", str(files["data"] / "split01"),
    ]  # fmt: skip
    run_pretraining.main(run_pretraining.get_args(args))
    first, second = (json.loads(line) for line in (tmp_path / "log.txt").read_text().splitlines())
    assert not any(k.startswith("probe_") for k in first)  # epoch 0 is not a 2nd epoch
    for key in ("probe_pooled_val_uar", "probe_pooled_test_uar", "probe_temporal_val_uar", "probe_temporal_test_uar"):
        assert 0 <= second[key] <= 100
    events = b"".join(p.read_bytes() for p in (tmp_path / "tb").iterdir())
    assert b"probe/pooled_val_uar" in events and b"probe/temporal_test_uar" in events

    no_data = [a for a in args if a not in ("--probe_data", str(files["data"] / "split01"))]
    result = run_script("run_pretraining.py", *no_data, "--output_dir", tmp_path / "again", check=False)
    assert_one_line_error(result, "--probe_every needs --probe_data")


def test_the_quick_start_probe_bench_runs_at_miniature_size(files, tmp_path):
    from bench import probe_quickstart

    rows = probe_quickstart.run(files["data"], files["ours"], tmp_path, [0], SETTINGS)
    assert {encoder for encoder, _ in rows} == {"pretrained", "random"}
    assert len(rows) == 8 and all(len(runs) == 1 for runs in rows.values())
    table = probe_quickstart.report(rows, [0], files["data"], files["ours"])
    assert table.count("| linear | temporal |") == 2
