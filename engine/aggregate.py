"""Per-fold table with mean and standard deviation, from the metrics.json files of fine-tuning runs.

python -m engine.aggregate saved/model/finetuning/dfew/lgi_former_base/split0{1,2,3,4,5} [--checkpoint last]

The videos column says how many test videos the metrics cover: "8 of 9 (1 unreadable)" when a run left
unreadable videos out. `--json FILE` also writes {run folder name: {uar, war, macro_f1, num_videos, checkpoint,
and the unreadable paths if any}} for scripts.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

COLUMNS = ("uar", "war", "macro_f1")


def read_fold(run_dir, checkpoint):
    path = Path(run_dir) / f"test_{checkpoint}" / "metrics.json"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no test metrics (did the run finish?)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not a metrics file ({err})") from None


def videos_cell(metrics):
    """'9', or '8 of 9 (1 unreadable)'; empty for files written before the count was recorded."""
    covered, lost = metrics.get("num_samples"), len(metrics.get("unreadable", []))
    if covered is None:
        return ""
    return f"{covered} of {covered + lost} ({lost} unreadable)" if lost else str(covered)


def fold_table(run_dirs, checkpoint="last", summary=True):
    """Markdown table: one row per run folder, then mean and std (population std over folds) of each metric."""
    rows = [(Path(d).name, read_fold(d, checkpoint)) for d in run_dirs]
    values = np.array([[m[c] for c in COLUMNS] for _, m in rows])
    lines = [f"| run ({checkpoint} checkpoint) | UAR | WAR | macro F1 | videos |", "|---|---|---|---|---|"]
    lines += [
        f"| {name} | " + " | ".join(f"{m[c]:.2f}" for c in COLUMNS) + f" | {videos_cell(m)} |" for name, m in rows
    ]
    if summary:
        lines.append("| mean | " + " | ".join(f"{v:.2f}" for v in values.mean(0)) + " | |")
        lines.append("| std | " + " | ".join(f"{v:.2f}" for v in values.std(0)) + " | |")
    return "\n".join(lines)


def fold_records(run_dirs, checkpoint="last"):
    """{run folder name: its test metrics}, with the number of videos they cover as num_videos."""
    records = {}
    for run_dir in run_dirs:
        metrics = read_fold(run_dir, checkpoint)
        records[Path(run_dir).name] = {
            "checkpoint": checkpoint,
            **{c: metrics[c] for c in COLUMNS},
            "num_videos": metrics["num_samples"],
        }
        if metrics.get("unreadable"):
            records[Path(run_dir).name]["unreadable"] = metrics["unreadable"]
    return records


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dirs", nargs="+", help="one fine-tuning output folder per fold")
    parser.add_argument("--checkpoint", default="last", choices=["last", "best", "eval"])
    parser.add_argument("--no_summary", action="store_true", help="rows only (runs that are not folds)")
    parser.add_argument("--json", default=None, help="also write the per-run metrics to this file")
    args = parser.parse_args(argv)
    try:
        print(fold_table(args.run_dirs, args.checkpoint, summary=not args.no_summary))
        if args.json:
            Path(args.json).write_text(json.dumps(fold_records(args.run_dirs, args.checkpoint), indent=1))
    except (FileNotFoundError, ValueError) as err:
        sys.exit(f"error: {err}")


if __name__ == "__main__":
    main()
