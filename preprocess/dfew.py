"""DFEW: the official single-labelled 5 folds to split0{1..5}/{train,val,test}.csv.

Reads EmoLabel_DataSplit/{train,test}(single-labeled)/set_k.csv (video_name,label; labels 1-7 -> 0-6:
Happy, Sad, Neutral, Angry, Surprise, Disgust, Fear). val.csv is a copy of test.csv, as upstream: DFEW has
no validation split. --clips picks what the paths point to (default: clip_224x224, else jpg_256, whichever exists):
  clip_224x224      Clip/clip_224x224/<id:05d>/*.jpg, all face-aligned frames (the official download)
  jpg_256           Clip/jpg_256/<id:05d>/*.jpg, upstream's name for the same folder
  clip_224x224_16f  Clip/clip_224x224_16f/<id:05d>/*.jpg, 16 frames per clip, time-normalised by a temporal
                    interpolation model (TIM)
  original          Clip/original/<id:05d>.mp4, the raw clips (not face-cropped)

  python -m preprocess.dfew --root /data/DFEW --out saved/data/dfew
"""

from pathlib import Path

from datasets.labels import get_label_map
from preprocess.common import LayoutError, Split, dataset_parser, read_rows, require, run, user_errors

LABELS = get_label_map("dfew")
FOLDS = range(1, 6)
SPLIT_DIRS = {"train": "train(single-labeled)", "test": "test(single-labeled)"}
CLIPS = {  # --clips: (folder under Clip/, file suffix: '' for a frame folder)
    "clip_224x224": ("clip_224x224", ""),
    "jpg_256": ("jpg_256", ""),
    "clip_224x224_16f": ("clip_224x224_16f", ""),
    "original": ("original", ".mp4"),
}


def split_file(root: Path, part: str, fold: int) -> Path:
    """EmoLabel_DataSplit/<part>(single-labeled)/set_k.csv; the DFEW README spells it single_labeled."""
    folder = root / "EmoLabel_DataSplit"
    for name in (SPLIT_DIRS[part], SPLIT_DIRS[part].replace("-", "_")):
        if (folder / name / f"set_{fold}.csv").is_file():
            return folder / name / f"set_{fold}.csv"
    raise LayoutError(f"{folder / SPLIT_DIRS[part] / f'set_{fold}.csv'}: not found; is --root the DFEW root?")


def read_split_file(path: Path, root: Path, clip_dir: str, suffix: str) -> list[tuple[str, int]]:
    rows = read_rows(path, sep=",")
    if not rows or rows[0][1] != ["video_name", "label"]:
        raise LayoutError(f"{path}: expected the header 'video_name,label'")
    entries, bad = [], []
    for i, fields in rows[1:]:
        if len(fields) != 2 or not fields[0].isdigit() or fields[1] not in LABELS.codes:
            bad.append(f"line {i}: {','.join(fields)!r}")
            continue
        entries.append((f"Clip/{clip_dir}/{int(fields[0]):05d}{suffix}", LABELS.index(fields[1])))
    require(bad, f"{path.relative_to(root)}: expected '<video number>,<label 1-7>'")
    return entries


def default_clips(root: Path) -> str:
    """The official clip_224x224 frames, or upstream's jpg_256 name for them, whichever exists."""
    return (
        "jpg_256" if (root / "Clip/jpg_256").is_dir() and not (root / "Clip/clip_224x224").is_dir() else "clip_224x224"
    )


def collect(root: Path, clips: str) -> list[Split]:
    clip_dir, suffix = CLIPS[clips]
    if not (root / "Clip" / clip_dir).is_dir():
        found = [name for name, (d, _) in CLIPS.items() if (root / "Clip" / d).is_dir()]
        hint = f"; found {', '.join(found)}: pass --clips {found[0]}" if found else "; is --root the DFEW root?"
        raise LayoutError(f"{root / 'Clip' / clip_dir}: not found{hint}")
    splits = []
    for fold in FOLDS:
        train, test = (split_file(root, part, fold) for part in ("train", "test"))
        train_entries, test_entries = (read_split_file(f, root, clip_dir, suffix) for f in (train, test))
        splits += [
            Split(f"split0{fold}/train", str(train.relative_to(root)), train_entries),
            Split(f"split0{fold}/val", str(test.relative_to(root)), test_entries),
            Split(f"split0{fold}/test", str(test.relative_to(root)), test_entries),
        ]
    return splits


def main(argv: list[str] | None = None) -> None:
    parser = dataset_parser(__doc__)
    parser.add_argument("--clips", choices=CLIPS, default=None, help="what the paths point to (see above)")
    args = parser.parse_args(argv)
    with user_errors("dfew"):
        run(args, LABELS, ".jpg", lambda: collect(args.root, args.clips or default_clips(args.root)))


if __name__ == "__main__":
    main()
