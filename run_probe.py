"""Linear probe and k-NN on frozen features, per fold and aggregated, reported like fine-tuning.

    python extract_features.py CKPT --data_path saved/data/dfew/split01 --output_dir features/dfew/split01
    ...                                                 (one features folder per fold)
    python run_probe.py features/dfew/split0{1,2,3,4,5} --data_set DFEW --output_dir probes/dfew

Each fold folder holds train/, val/ and test/ features. Every probe (linear: standardised logistic regression,
its C chosen on val UAR; knn: cosine k-NN, k chosen on val UAR; head: a fine-tuned head's own predictions, for
features extracted --with_head) and feature variant (pooled; temporal = pooled + late-minus-early local tokens)
writes <output_dir>/<probe>_<variant>/<fold>/test_eval/{metrics.json,pred.csv,confusion_matrix.png}; then the
per-fold table with mean and std is printed and saved as <output_dir>/summary.md and results.json.
inspection/probe.py says more.
"""

import argparse
import json
import sys
from pathlib import Path

from datasets.specs import get_spec
from engine.aggregate import fold_records, fold_table
from inspection.features import FeatureError
from inspection.probe import PROBES, VARIANTS, ProbeError, probe_folds


def get_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("features", nargs="+", help="one folder per fold, holding train/, val/ and test/ features")
    p.add_argument("--output_dir", required=True)
    p.add_argument("--probe", nargs="+", default=["linear", "knn"], choices=PROBES)
    p.add_argument("--variant", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    p.add_argument("--data_set", default=None, help="class names and count of this dataset (default: 0..max label)")
    p.add_argument("--nb_classes", type=int, default=None, help="class count (default: the dataset's, or max label+1)")
    return p.parse_args(argv)


def main(args):
    spec = get_spec(args.data_set) if args.data_set else None
    num_classes = args.nb_classes or (spec.num_classes if spec else None)
    classes = spec.class_names if spec and num_classes == spec.num_classes else None
    runs = probe_folds(args.features, args.output_dir, args.probe, args.variant, num_classes, classes)
    tables, records = [], {}
    for name, run_dirs in runs.items():
        tables.append(f"### {name}\n\n" + fold_table(run_dirs, "eval", summary=len(run_dirs) > 1))
        records[name] = fold_records(run_dirs, "eval")
    summary = "\n\n".join(tables)
    print(summary)
    out = Path(args.output_dir)
    (out / "summary.md").write_text(summary + "\n")
    (out / "results.json").write_text(json.dumps(records, indent=1))
    return records


if __name__ == "__main__":
    arguments = get_args()
    try:
        main(arguments)
    except (FeatureError, ProbeError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
