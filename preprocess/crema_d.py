"""CREMA-D: face crops of VideoFlash/<actor>_<sentence>_<emotion>_<level>.flv, in the 5 subject-independent
folds upstream used, to split0{1..5}/{train,val,test}.csv. Six classes from the emotion code: ANG anger,
DIS disgust, FEA fear, HAP happiness, NEU neutral, SAD sadness. See preprocess/lab.py for the crops.

  python -m preprocess.crema_d --root /data/CREMA-D --out saved/data/crema_d
"""

import re
from collections import Counter
from pathlib import Path

from datasets.labels import get_label_map
from preprocess.common import LayoutError, class_index, require, unknown_classes
from preprocess.lab import LabClip, lab_parser, prepare_lab

LABELS = get_label_map("crema_d")
VIDEOS = "VideoFlash"
VIDEO_EXTS = (".flv", ".mp4")  # the release ships .flv; converted .mp4 copies are accepted
NAME = re.compile(r"(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})")  # 1001_DFA_ANG_XX


def find_videos(root: Path) -> list[LabClip]:
    folder = root / VIDEOS
    if not folder.is_dir():
        raise LayoutError(f"{folder}: not found; is --root the CREMA-D root (holding {VIDEOS}/)?")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_EXTS)
    if not files:
        raise LayoutError(f"{folder}: no {' or '.join(VIDEO_EXTS)} videos")
    require([p.name for p in files if not NAME.fullmatch(p.stem)], f"{folder}: names not like 1001_DFA_ANG_XX.flv")
    twice = [stem for stem, n in Counter(p.stem for p in files).items() if n > 1]
    require(twice, f"{folder}: clips present in more than one format")
    clips, unknown = [], []
    for p in files:
        subject, _, emotion, _ = NAME.fullmatch(p.stem).groups()
        clips.append(LabClip(f"{VIDEOS}/{p.name}", subject, class_index(LABELS, emotion, p.name, unknown)))
    unknown_classes(unknown, LABELS, str(folder))
    return clips


def main(argv: list[str] | None = None) -> None:
    args = lab_parser(__doc__).parse_args(argv)
    prepare_lab(args, "crema-d", LABELS, find_videos)


if __name__ == "__main__":
    main()
