"""The lab-recorded datasets (CREMA-D, RAVDESS, eNTERFACE05) ship full-frame videos: crop the faces first
(preprocess.face_crop), then split by subject exactly as upstream did (lab_splits.json).

The crops go to <root>/<--faces>/<video path without extension>/ (spaces replaced by '_'), so the annotation
paths stay relative to the dataset root; clips already cropped are kept, so an interrupted run resumes.
Each fold's test subjects test and every other subject trains; val.csv is a copy of test.csv (upstream
validated on test). Clips of subjects in no upstream fold (eNTERFACE05's subject 6) are left out.
"""

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from datasets.labels import LabelMap
from preprocess.common import Split, dataset_parser, first_few, run, user_errors
from preprocess.face_crop import add_crop_args, crop_setup, crop_videos, folder_name

LAB_SPLITS = Path(__file__).with_name("lab_splits.json")


@dataclass
class LabClip:
    path: str  # video, or its frame folder, relative to the dataset root
    subject: str  # as lab_splits.json names it: '1001', 'Actor_01', 'subject_1'
    label: int


def lab_parser(description: str) -> argparse.ArgumentParser:
    parser = dataset_parser(description)
    parser.add_argument("--faces", default="face_crop", help="folder under --root for the face crops")
    add_crop_args(parser)
    return parser


def lab_splits(dataset: str, clips: list[LabClip], listed_in: str) -> list[Split]:
    """split0k/{train,val,test} of the subject-independent folds in lab_splits.json."""
    folds = json.loads(LAB_SPLITS.read_text())[dataset]["folds"]
    known = {s for fold in folds.values() for s in fold["test_subjects"]}
    unused = sorted({c.subject for c in clips} - known)
    if unused:
        print(f"note: left out the clips of subjects in no upstream fold: {first_few(unused)}")
    splits = []
    for name, fold in folds.items():
        test_subjects = set(fold["test_subjects"])
        test = [(c.path, c.label) for c in clips if c.subject in test_subjects]
        train = [(c.path, c.label) for c in clips if c.subject in known - test_subjects]
        if (len(train), len(test)) != (fold["n_train"], fold["n_test"]):
            print(
                f"warning: {name} has {len(train)} train / {len(test)} test clips; upstream had "
                f"{fold['n_train']} / {fold['n_test']}"
            )
        splits += [
            Split(f"{name}/{part}", listed_in, entries)
            for part, entries in (("train", train), ("val", test), ("test", test))
        ]
    return splits


def prepare_lab(
    args: argparse.Namespace, dataset: str, labels: LabelMap, find_videos: Callable[[Path], list[LabClip]]
) -> None:
    """Crop the faces of the videos `find_videos` lists, then write and summarise the folds."""

    def collect() -> list[Split]:
        videos = find_videos(args.root)
        detector, config = crop_setup(args)
        folders = [f"{args.faces}/{folder_name(Path(v.path))}" for v in videos]
        crop_videos(
            [(args.root / v.path, args.root / f) for v, f in zip(videos, folders, strict=True)], detector, config
        )
        clips = [
            LabClip(f, v.subject, v.label) for v, f in zip(videos, folders, strict=True) if (args.root / f).is_dir()
        ]
        return lab_splits(dataset, clips, f"{args.root / args.faces} (face crops)")

    with user_errors(labels.dataset):
        run(args, labels, ".jpg", collect)
