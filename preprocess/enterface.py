"""eNTERFACE05: face crops of 'subject N/<emotion>/sentence M/sN_xx_M.avi', in the 5 subject-independent folds
upstream used, to split0{1..5}/{train,val,test}.csv (1,287 clips; subject 6 is in no fold).

Folder names vary in the release: the subject comes from the nearest folder named 'subject N' or
'subject_N', the emotion from the folder below it (anger, disgust, fear, happiness, sadness, surprise, or a
name starting with their codes an, di, fe, ha, sa, su), else from the file name's code. See preprocess/lab.py
for the crops.

  python -m preprocess.enterface --root /data/eNTERFACE05 --out saved/data/enterface
"""

import re
from pathlib import Path

from datasets.labels import get_label_map
from preprocess.common import LayoutError, require, unknown_classes
from preprocess.lab import LabClip, lab_parser, prepare_lab

LABELS = get_label_map("enterface")
SUBJECT = re.compile(r"subject[ _]*(\d+)", re.IGNORECASE)
FILE_CODE = re.compile(r"s_?\d+_([a-z]{2})_", re.IGNORECASE)  # s1_an_1


def emotion_of(parts: tuple[str, ...]) -> int:
    """Label from the emotion folder (parts[0], below the subject folder), else from the file name."""
    folder = parts[0] if len(parts) > 1 else ""
    for key in (folder, folder[:2]):
        try:
            return LABELS.index(key)
        except ValueError:
            pass
    code = FILE_CODE.match(parts[-1])
    return LABELS.index(code.group(1)) if code and code.group(1).lower() in LABELS.codes else -1


def find_videos(root: Path) -> list[LabClip]:
    files = sorted(root.rglob("*.avi"))
    if not files:
        raise LayoutError(f"{root}: no .avi videos; is --root the eNTERFACE05 root (holding 'subject 1/')?")
    clips, no_subject, unknown = [], [], []
    for p in files:
        parts = p.relative_to(root).parts
        at = max((i for i, part in enumerate(parts[:-1]) if SUBJECT.fullmatch(part)), default=None)
        if at is None:
            no_subject.append("/".join(parts))
            continue
        label = emotion_of(parts[at + 1 :])
        if label < 0:
            unknown.append("/".join(parts))
        subject = f"subject_{int(SUBJECT.fullmatch(parts[at]).group(1))}"
        clips.append(LabClip("/".join(parts), subject, label))
    require(no_subject, f"{root}: videos outside a 'subject N' folder")
    unknown_classes(unknown, LABELS, str(root))
    return clips


def main(argv: list[str] | None = None) -> None:
    args = lab_parser(__doc__).parse_args(argv)
    prepare_lab(args, "enterface", LABELS, find_videos)


if __name__ == "__main__":
    main()
