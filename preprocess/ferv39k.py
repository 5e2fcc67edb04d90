"""FERV39k: the official All_scenes split to all_scenes/{train,val,test}.csv.

Reads 4_setups/All_scenes/{train,test}_All.csv ('<Scene>/<Emotion>/<id> <Emotion>' per line); frames are in
2_ClipsforFaceCrop/<Scene>/<Emotion>/<id>/*.jpg. Class names map to the DFEW order (Happy 0, Sad 1,
Neutral 2, Angry 3, Surprise 4, Disgust 5, Fear 6). val.csv is a copy of test.csv, as upstream.

  python -m preprocess.ferv39k --root /data/FERV39k --out saved/data/ferv39k
"""

from pathlib import Path

from datasets.labels import get_label_map
from preprocess.common import (
    Split,
    class_index,
    dataset_parser,
    find_file,
    read_rows,
    require,
    run,
    unknown_classes,
    user_errors,
)

LABELS = get_label_map("ferv39k")
SPLIT_FILES = {"train": "4_setups/All_scenes/train_All.csv", "test": "4_setups/All_scenes/test_All.csv"}
FRAMES = "2_ClipsforFaceCrop"


def read_split_file(root: Path, rel: str) -> list[tuple[str, int]]:
    entries, malformed, unknown = [], [], []
    for i, fields in read_rows(find_file(root, rel, "FERV39k")):
        if len(fields) != 2:
            malformed.append(f"line {i}: {' '.join(fields)!r}")
            continue
        entries.append((f"{FRAMES}/{fields[0]}", class_index(LABELS, fields[1], f"line {i}", unknown)))
    require(malformed, f"{rel}: expected '<Scene>/<Emotion>/<id> <Emotion>'")
    unknown_classes(unknown, LABELS, rel)
    return entries


def collect(root: Path) -> list[Split]:
    train, test = (read_split_file(root, SPLIT_FILES[part]) for part in ("train", "test"))
    return [
        Split("all_scenes/train", SPLIT_FILES["train"], train),
        Split("all_scenes/val", SPLIT_FILES["test"], test),
        Split("all_scenes/test", SPLIT_FILES["test"], test),
    ]


def main(argv: list[str] | None = None) -> None:
    args = dataset_parser(__doc__).parse_args(argv)
    with user_errors("ferv39k"):
        run(args, LABELS, ".jpg", lambda: collect(args.root))


if __name__ == "__main__":
    main()
