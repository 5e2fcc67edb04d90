"""RAVDESS: face crops of the video-only speech clips, Actor_XX/02-01-EE-II-SS-RR-XX.mp4, in the 6
subject-independent folds upstream used, to split0{1..6}/{train,val,test}.csv (1,440 clips).

File names are modality-channel-emotion-intensity-statement-repetition-actor; modality 02 is video-only and
channel 01 speech (song clips and audio-visual copies are skipped). Eight classes from the emotion code:
01 neutral, 02 calm, 03 happy, 04 sad, 05 angry, 06 fearful, 07 disgust, 08 surprised. See preprocess/lab.py
for the crops.

  python -m preprocess.ravdess --root /data/RAVDESS --out saved/data/ravdess
"""

import re
from collections import Counter
from pathlib import Path

from datasets.labels import get_label_map
from preprocess.common import LayoutError, class_index, require, unknown_classes
from preprocess.lab import LabClip, lab_parser, prepare_lab

LABELS = get_label_map("ravdess")
NAME = re.compile(r"(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)")
VIDEO_ONLY, SPEECH = "02", "01"


def find_videos(root: Path) -> list[LabClip]:
    files = sorted(root.rglob("*.mp4"))
    require(
        [str(p.relative_to(root)) for p in files if not NAME.fullmatch(p.stem)],
        f"{root}: names not like 02-01-03-01-01-01-01.mp4",
    )
    files = [p for p in files if NAME.fullmatch(p.stem).group(1, 2) == (VIDEO_ONLY, SPEECH)]
    if not files:
        raise LayoutError(f"{root}: no video-only speech clips 02-01-*.mp4 (from Video_Speech_Actor_XX.zip)")
    twice = [name for name, n in Counter(p.name for p in files).items() if n > 1]
    require(twice, f"{root}: clips present more than once")
    clips, unknown = [], []
    for p in files:
        emotion, actor = NAME.fullmatch(p.stem).group(3, 7)
        label = class_index(LABELS, emotion, p.name, unknown)
        clips.append(LabClip(p.relative_to(root).as_posix(), f"Actor_{actor}", label))
    unknown_classes(unknown, LABELS, str(root))
    return clips


def main(argv: list[str] | None = None) -> None:
    args = lab_parser(__doc__).parse_args(argv)
    prepare_lab(args, "ravdess", LABELS, find_videos)


if __name__ == "__main__":
    main()
