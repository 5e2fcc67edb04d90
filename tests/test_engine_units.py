"""Engine pieces on their own: metrics, schedules, parameter groups, checkpoint files, evaluation merge."""

import os
import subprocess

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, balanced_accuracy_score

from engine.checkpoint import atomic_save, latest_valid_checkpoint, save_checkpoint, save_epoch_checkpoint
from engine.evaluate import per_video
from engine.logger import RunLogger
from engine.metrics import classification_metrics
from engine.optim import cosine_schedule, param_groups
from engine.run import compile_in_place
from engine.train import NonFiniteLossError, StepSettings, TrainState, train_one_epoch
from models import CheckpointError, create_model, read_checkpoint


@pytest.mark.parametrize("seed", range(5))
def test_uar_and_war_equal_sklearn(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 7, 300)
    preds = np.where(rng.random(300) < 0.6, labels, rng.integers(0, 7, 300))
    if seed == 4:
        labels[labels == 3] = 2  # a class absent from the labels
    m = classification_metrics(labels, preds, 7)
    assert m["uar"] == pytest.approx(100 * balanced_accuracy_score(labels, preds))
    assert m["war"] == pytest.approx(100 * accuracy_score(labels, preds))
    assert np.sum(m["confusion_matrix"]) == 300


def test_cosine_schedule_matches_the_upstream_formula():
    s = cosine_schedule(1.0, 0.1, epochs=4, steps_per_epoch=10, warmup_epochs=1)
    assert len(s) == 40
    assert s[0] == 0 and s[9] == pytest.approx(1.0)
    np.testing.assert_allclose(s[:10], np.linspace(0, 1, 10))
    i = np.arange(30)
    np.testing.assert_allclose(s[10:], 0.1 + 0.45 * (1 + np.cos(np.pi * i / 30)))


def test_layer_decay_groups_follow_upstream():
    model = create_model("lgi_former_tiny_patch16_160")  # 4 blocks -> 6 layers
    groups = param_groups(model, 0.05, model.no_weight_decay(), layer_decay=0.75)
    where = {n: (g["lr_scale"], g["weight_decay"]) for g in groups for n in g["names"]}
    assert where["patch_embed.proj.weight"] == (pytest.approx(0.75**5), 0.05)
    assert where["patch_embed.proj.bias"] == (pytest.approx(0.75**5), 0.0)
    assert where["blocks.0.mlp.fc1.weight"] == (pytest.approx(0.75**4), 0.05)
    assert where["blocks.3.first_attn.q_bias"] == (pytest.approx(0.75), 0.0)
    assert where["lg_region_tokens"] == (1.0, 0.0)
    assert where["head.weight"] == (1.0, 0.05)
    assert where["fc_norm.weight"] == (1.0, 0.0)
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


def test_pretraining_decays_region_tokens_like_upstream_unless_fixed():
    model = create_model("pretrain_lgi_former_tiny_patch16_160")
    upstream = {n: g["weight_decay"] for g in param_groups(model, 0.05, {"mask_token"}) for n in g["names"]}
    fixed = {n: g["weight_decay"] for g in param_groups(model, 0.05, model.no_weight_decay()) for n in g["names"]}
    assert upstream["encoder.lg_region_tokens"] == 0.05 and fixed["encoder.lg_region_tokens"] == 0.0
    assert upstream["mask_token"] == 0.0


def test_interrupted_save_leaves_the_previous_checkpoint_loadable(tmp_path, monkeypatch):
    model = create_model("lgi_former_tiny_patch16_160")
    save_epoch_checkpoint(tmp_path, 0, 100, TrainState(model))

    def crash(obj, f, *args, **kwargs):
        f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_epoch_checkpoint(tmp_path, 1, 100, TrainState(model))
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ["checkpoint-0.pth"]
    path, checkpoint = latest_valid_checkpoint(tmp_path)
    assert path.name == "checkpoint-0.pth" and checkpoint["epoch"] == 0


def test_resume_skips_a_corrupt_newest_checkpoint(tmp_path, capsys):
    atomic_save({"model": {}, "epoch": 3}, tmp_path / "checkpoint-3.pth")
    (tmp_path / "checkpoint-4.pth").write_bytes(b"garbage")
    path, checkpoint = latest_valid_checkpoint(tmp_path)
    assert path.name == "checkpoint-3.pth" and checkpoint["epoch"] == 3
    assert "checkpoint-4.pth" in capsys.readouterr().out


def test_old_checkpoints_are_pruned_except_every_nth(tmp_path):
    model = create_model("lgi_former_tiny_patch16_160", depth=1)
    for epoch in range(5):
        save_epoch_checkpoint(tmp_path, epoch, 2, TrainState(model))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-1.pth", "checkpoint-3.pth", "checkpoint-4.pth"]


def test_views_are_averaged_as_probabilities_per_video():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [0.0, 3.0], [5.0, 0.0]])
    predictions = {"logits": logits, "labels": torch.tensor([0, 0, 1, 1]), "videos": torch.tensor([7, 7, 2, 2])}
    videos, probs, labels = per_video(predictions)
    assert videos.tolist() == [2, 7]
    expected = torch.softmax(logits, 1)
    torch.testing.assert_close(probs[1], (expected[0] + expected[1]) / 2)
    torch.testing.assert_close(probs[0], (expected[2] + expected[3]) / 2)
    assert labels.tolist() == [1, 0]


def test_fold_table_reports_mean_and_std(tmp_path):
    import json

    from engine.aggregate import fold_table

    for i, (uar, war) in enumerate([(60.0, 70.0), (64.0, 74.0)]):
        folder = tmp_path / f"split0{i + 1}" / "test_last"
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text(json.dumps({"uar": uar, "war": war, "macro_f1": 50.0}))
    table = fold_table([tmp_path / "split01", tmp_path / "split02"])
    assert "| mean | 62.00 | 72.00 | 50.00 |" in table
    assert "| std | 2.00 | 2.00 | 0.00 |" in table


def test_aggregate_writes_one_json_entry_per_run(tmp_path):
    import json

    from engine.aggregate import main

    for name, uar in (("finetune_pretrained", 61.0), ("finetune_scratch", 30.0)):
        folder = tmp_path / name / "test_last"
        folder.mkdir(parents=True)
        metrics = {"uar": uar, "war": uar + 1, "macro_f1": uar - 1, "num_samples": 70}
        (folder / "metrics.json").write_text(json.dumps(metrics))
    runs = [str(tmp_path / "finetune_pretrained"), str(tmp_path / "finetune_scratch")]
    main([*runs, "--json", str(tmp_path / "r.json")])
    results = json.loads((tmp_path / "r.json").read_text())
    assert results["finetune_pretrained"] == {
        "checkpoint": "last", "uar": 61.0, "war": 62.0, "macro_f1": 60.0, "num_videos": 70
    }  # fmt: skip
    assert results["finetune_scratch"]["uar"] == 30.0


def test_exported_weights_drop_the_optimizer_and_load_into_a_classifier(tmp_path):
    import argparse

    from engine.checkpoint import export_weights, save_checkpoint
    from models import create_model, load_weights, read_checkpoint

    mae = create_model("pretrain_lgi_former_tiny_patch16_64", depth=1)
    optimizer = torch.optim.AdamW(mae.parameters())
    mae.forward_loss(torch.randn(1, 3, 16, 64, 64), torch.arange(128)[None] % 8 != 0)[0].backward()
    optimizer.step()
    save_checkpoint(tmp_path / "full.pth", mae, 3, optimizer, args=argparse.Namespace(lr=1.0))
    export_weights(tmp_path / "full.pth", tmp_path / "weights.pth")
    exported = read_checkpoint(tmp_path / "weights.pth")
    assert set(exported) == {"model", "epoch", "args", "model_config"} and exported["epoch"] == 3
    assert (tmp_path / "weights.pth").stat().st_size < 0.5 * (tmp_path / "full.pth").stat().st_size
    classifier = create_model("lgi_former_tiny_patch16_64", depth=1)
    report = load_weights(classifier, tmp_path / "weights.pth")
    assert sorted(report.missing) == ["fc_norm.bias", "fc_norm.weight", "head.bias", "head.weight"]
    torch.testing.assert_close(classifier.patch_embed.proj.weight, mae.encoder.patch_embed.proj.weight)


@pytest.mark.parametrize("update_freq", [1, 2])
def test_a_non_finite_loss_stops_training_before_the_weights_change(update_freq):
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    batches = [(torch.randn(2, 4),) for _ in range(4 * update_freq)]
    bad_batch = batches[2 * update_freq]  # the first micro-batch of the third update

    seen = []  # the weights each micro-batch meets

    def compute_loss(model, batch):
        seen.append([p.detach().clone() for p in model.parameters()])
        loss = model(batch[0]).square().mean()
        return (loss * float("nan") if batch[0] is bad_batch[0] else loss), {"double": 2 * loss.detach()}

    settings = StepSettings(torch.device("cpu"), update_freq=update_freq)
    with pytest.raises(NonFiniteLossError, match="loss is not finite .* at epoch 0, step 2"):
        state = TrainState(model, optimizer, scaler)
        train_one_epoch(model, batches, state, ([0.1] * 4, [0.0] * 4), 0, compute_loss, settings, RunLogger(None))
    before_bad_update = seen[2 * update_freq]
    assert not torch.equal(before_bad_update[0], seen[0][0])  # two updates happened
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before_bad_update, strict=True))


def test_compile_without_a_cpp_compiler_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(ValueError, match="--compile on CPU needs a C\\+\\+ compiler"):
        compile_in_place(torch.nn.Linear(2, 2), torch.device("cpu"))


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs (root only), unmounted after the test."""
    folder = tmp_path / "small"
    folder.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


def test_a_full_disk_is_one_line_and_keeps_the_checkpoints_written(small_disk):
    small = torch.nn.Linear(100, 100)  # 40 kB: fits
    save_checkpoint(small_disk / "checkpoint-0.pth", small, 0)
    large = torch.nn.Linear(1000, 1000)  # 4 MB: does not
    with pytest.raises(CheckpointError) as info:
        save_checkpoint(small_disk / "checkpoint-1.pth", large, 1)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{small_disk / 'checkpoint-1.pth'}: no space left")
    assert "it needs about 4,004,000 bytes" in message and "are free on its disk" in message
    assert sorted(p.name for p in small_disk.iterdir()) == ["checkpoint-0.pth"]  # no temporary file left
    assert read_checkpoint(small_disk / "checkpoint-0.pth")["epoch"] == 0
