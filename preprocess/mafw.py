"""MAFW: the official single-label 5 folds (without captions) to split0{1..5}/{train,val,test}.csv.

Reads split/single/no_caption/set_k/{train,test}.txt ('<clip>.mp4 <class name>' per line); frames are in
data/frames/<clip>/*.png. The 11 classes are mapped by name, never by position: anger, disgust, fear,
happiness, neutral, sadness, surprise, contempt, anxiety, helplessness, disappointment. val.csv is a copy of
test.csv, as upstream.

  python -m preprocess.mafw --root /data/MAFW --out saved/data/mafw
"""

import os
from pathlib import Path

from datasets.labels import get_label_map
from preprocess.common import (
    Split,
    dataset_parser,
    read_class_name_split,
    run,
    user_errors,
)

LABELS = get_label_map("mafw")
FOLDS = range(1, 6)
SPLIT_DIR = "split/single/no_caption"
FRAMES = "data/frames"


def read_split_file(root: Path, rel: str) -> list[tuple[str, int]]:
    line_format = "'<clip>.mp4 <class name>'"
    return read_class_name_split(
        root, rel, "MAFW", LABELS, line_format, lambda clip: f"{FRAMES}/{os.path.splitext(clip)[0]}"
    )


def collect(root: Path) -> list[Split]:
    splits = []
    for fold in FOLDS:
        train, test = (f"{SPLIT_DIR}/set_{fold}/{part}.txt" for part in ("train", "test"))
        train_entries, test_entries = (read_split_file(root, rel) for rel in (train, test))
        splits += [
            Split(f"split0{fold}/train", train, train_entries),
            Split(f"split0{fold}/val", test, test_entries),
            Split(f"split0{fold}/test", test, test_entries),
        ]
    return splits


def main(argv: list[str] | None = None) -> None:
    args = dataset_parser(__doc__).parse_args(argv)
    with user_errors("mafw"):
        run(args, LABELS, ".png", lambda: collect(args.root))


if __name__ == "__main__":
    main()
