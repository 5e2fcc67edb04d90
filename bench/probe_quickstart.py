"""Probe the quick start's pretrained encoder against the same encoder randomly initialised, on the generated set.

    python -m datasets.synthetic --out saved/data/probe --size 64 --num_clips 700 --num_pretrain 0 --seed 0
    python -m bench.probe_quickstart --data saved/data/probe \
        --checkpoint assets/pretrain_lgi_former_tiny_patch16_64_synthetic.pth   # a few minutes on 2 CPU cores

Seed s uses fold split0{s+1} (train 3/5, val 1/5, test 1/5 of the clips) and, for the random encoder, the
initialisation drawn with torch.manual_seed(s) for the checkpoint's own model configuration; the pretrained
encoder is the same in every seed, so its spread is the folds'. Features come from extract_features (test
pipeline: 2 temporal views x 1 crop, sampling rate from the checkpoint, the quick start's 4), probes from
inspection.probe (linear: standardised logistic regression, C on val UAR; knn: cosine, k on val UAR), both feature
variants (pooled; temporal = pooled + late-minus-early local tokens). Writes <out>/probe_quickstart.{md,json}
(mean +- std over seeds of the test UAR, WAR and macro F1) and every run's metrics.json under <out>/probes/.
Features are kept under <out>/features/ and reused when the same command runs again; pass a new --out after
changing the data or the checkpoint.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from datasets.specs import get_spec
from engine.checkpoint import save_checkpoint
from inspection.features import FeatureError, FeatureSettings, extract_features
from inspection.probe import probe_folds
from models import create_model, read_checkpoint
from models.pretrained import encoder_from_checkpoint

ENCODERS = ("pretrained", "random")
METRICS = ("uar", "war", "macro_f1")


def random_checkpoint(checkpoint, seed, out):
    """The checkpoint's model, freshly initialised with `seed`, saved with its config (reused if present)."""
    path = Path(out) / f"random_seed{seed}.pth"
    if not path.exists():
        pretrained = read_checkpoint(checkpoint)
        config = dict(pretrained["model_config"])
        torch.manual_seed(seed)
        model = create_model(config.pop("name"), **config)
        save_checkpoint(path, model, -1, args=pretrained.get("args"))  # its args: the same sampling rate
    return path


def run(data, checkpoint, out, seeds, settings, probes=("linear", "knn")):
    out = Path(out)
    spec = get_spec("synthetic")
    rows = {}
    for seed in seeds:
        fold = f"split{seed + 1:02d}"
        for encoder in ENCODERS:
            path = checkpoint if encoder == "pretrained" else random_checkpoint(checkpoint, seed, out / "checkpoints")
            source = encoder_from_checkpoint(path)
            features = out / "features" / (encoder if encoder == "pretrained" else f"random_seed{seed}") / fold
            for split in ("train", "val", "test"):
                extract_features(source, Path(data) / fold / f"{split}.csv", features / split, settings)
            runs = probe_folds([features], out / "probes" / f"{encoder}_seed{seed}", probes, num_classes=7,
                               classes=spec.class_names)  # fmt: skip
            for name, (run_dir,) in runs.items():
                metrics = json.loads((run_dir / "test_eval" / "metrics.json").read_text())
                rows.setdefault((encoder, name), []).append({k: metrics[k] for k in METRICS} | {"seed": seed})
    return rows


def report(rows, seeds, data, checkpoint):
    lines = [
        f"Probes on {data} (test split of fold split0(s+1) for seed s, seeds {', '.join(map(str, seeds))}); "
        f"pretrained = {checkpoint}, random = the same model freshly initialised with seed s. Test metrics in %, "
        "mean +- std over seeds (chance UAR 14.29).",
        "",
        "| probe | features | encoder | UAR | WAR | macro F1 | UAR per seed |",
        "|---|---|---|---|---|---|---|",
    ]
    for (encoder, name), runs in sorted(rows.items(), key=lambda item: (item[0][1], item[0][0])):
        probe, variant = name.split("_")
        cells = []
        for key in METRICS:
            values = np.array([r[key] for r in runs])
            cells.append(f"{values.mean():.1f} +- {values.std():.1f}")
        per_seed = ", ".join(f"{r['uar']:.1f}" for r in runs)
        lines.append(f"| {probe} | {variant} | {encoder} | " + " | ".join(cells) + f" | {per_seed} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="saved/data/probe", help="the generated set (split01..split05)")
    parser.add_argument("--checkpoint", default="assets/pretrain_lgi_former_tiny_patch16_64_synthetic.pth")
    parser.add_argument("--out", default="saved/bench/probe_quickstart")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--num_workers", type=int, default=0)
    parser.add_argument("--batch_size", type=int, default=32)
    args = parser.parse_args()
    start = time.time()
    settings = FeatureSettings(test_num_segment=2, test_num_crop=1, batch_size=args.batch_size,
                               num_workers=args.num_workers)  # fmt: skip
    try:
        rows = run(args.data, args.checkpoint, args.out, args.seeds, settings)
    except FeatureError as err:  # e.g. features of another checkpoint in --out
        raise SystemExit(f"error: {err}") from None
    table = report(rows, args.seeds, args.data, args.checkpoint)
    out = Path(args.out)
    (out / "probe_quickstart.md").write_text(table + "\n")
    records = {f"{encoder}/{name}": runs for (encoder, name), runs in rows.items()}
    (out / "probe_quickstart.json").write_text(json.dumps(records, indent=1))
    print(table)
    print(f"done in {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
