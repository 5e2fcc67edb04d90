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
    dataset_parser,
    read_class_name_split,
    run,
    user_errors,
)

LABELS = get_label_map("ferv39k")
SPLIT_FILES = {"train": "4_setups/All_scenes/train_All.csv", "test": "4_setups/All_scenes/test_All.csv"}
FRAMES = "2_ClipsforFaceCrop"


def read_split_file(root: Path, rel: str) -> list[tuple[str, int]]:
    line_format = "'<Scene>/<Emotion>/<id> <Emotion>'"
    return read_class_name_split(root, rel, "FERV39k", LABELS, line_format, lambda clip: f"{FRAMES}/{clip}")


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
