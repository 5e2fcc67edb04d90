"""scripts/quickstart.sh end to end at a miniature size: the real entry points with the recipe's flags."""

import json
import os
import subprocess
from pathlib import Path

from datasets.labels import DFEW_CLASSES

ROOT = Path(__file__).resolve().parents[1]


def test_quickstart_recipe_runs_end_to_end(tmp_path):
    env = {
        **os.environ,
        "DATA": str(tmp_path / "data"),
        "OUT": str(tmp_path / "out"),
        "NUM_CLIPS": "35",
        "NUM_PRETRAIN": "32",
        "PRETRAIN_EPOCHS": "1",
        "FINETUNE_EPOCHS": "1",
        "WORKERS": "0",
    }
    done = subprocess.run(["bash", "scripts/quickstart.sh"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "epoch 0: loss" in done.stdout and "appearance" in done.stdout  # the short pretraining ran

    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert set(results) == {"finetune_pretrained", "finetune_scratch"}
    for run in results.values():
        assert run["num_videos"] == 7 and 0 <= run["uar"] <= 100 and 0 <= run["war"] <= 100

    video, label = (tmp_path / "data" / "demo" / "mp4" / "split01" / "test.csv").read_text().split()[:2]
    report = json.loads((tmp_path / "out" / "demo" / Path(video).stem / "predictions.json").read_text())
    assert report["true_label"] == DFEW_CLASSES[int(label)]
    assert f"true class {DFEW_CLASSES[int(label)]}" in done.stdout
    assert report["persons"][0]["overall"] is not None  # the face crop is the whole frame: all windows classified
    two = json.loads((tmp_path / "out" / "demo" / "two_people" / "predictions.json").read_text())
    assert len(two["persons"]) == 2 and len(two["shot_starts_s"]) == 4  # a film cutting between two people
    assert (tmp_path / "out" / "demo" / "two_people" / "timeline.png").exists() and two["warning"] is None
