"""CREMA-D, RAVDESS and eNTERFACE05 preparation on miniature copies of the official layouts: labels parsed from
file and folder names, the subject-independent folds of lab_splits.json, face crops written under the root.

A stub detector stands in for MTCNN/Haar (the detectors are tested in test_face_crop.py): it finds a face in
the centre of every frame that is not black, so black videos play faceless footage."""

import json
import re

import cv2
import numpy as np
import pytest
from script_runs import lines, run_main

from datasets.labels import get_label_map
from preprocess import crema_d, enterface, face_crop, ravdess
from preprocess.lab import LAB_SPLITS

SPLITS = json.loads(LAB_SPLITS.read_text())


class CentreFace:
    name = "stub"

    def detect(self, frames):
        face = np.array([[8, 8, 24, 24, 1.0]], np.float32)
        return [face if f.any() else np.zeros((0, 5), np.float32) for f in frames]


@pytest.fixture(autouse=True)
def stub_detector(monkeypatch):
    monkeypatch.setattr(face_crop, "build_detector", lambda name: CentreFace())


def make_video(path, black=False, n=4):
    path.parent.mkdir(parents=True, exist_ok=True)
    fourcc = {".avi": "MJPG", ".flv": "FLV1", ".mp4": "mp4v"}[path.suffix]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 25, (32, 32))
    for t in range(n):
        writer.write(np.full((32, 32, 3), 0 if black else 60 + 20 * t, np.uint8))
    writer.release()


def run_lab(main, root, *argv):
    return run_main(main, "--root", root, "--out", root / "out", *argv)


def test_lab_splits_match_the_label_maps_and_folds_are_disjoint():
    for dataset, key in (("crema-d", "crema_d"), ("ravdess", "ravdess"), ("enterface", "enterface")):
        labels = get_label_map(key)
        table = SPLITS[dataset]["labels"]
        assert [entry["index"] for entry in table] == list(range(labels.num_classes))
        for entry in table:
            assert labels.index(entry["code"]) == entry["index"] and labels.index(entry["name"]) == entry["index"]
        folds = SPLITS[dataset]["folds"].values()
        subjects = [s for fold in folds for s in fold["test_subjects"]]
        assert len(subjects) == len(set(subjects))
        assert len({fold["n_train"] + fold["n_test"] for fold in folds}) == 1
    assert [len(SPLITS[d]["folds"]) for d in ("crema-d", "ravdess", "enterface")] == [5, 6, 5]
    assert "subject_6" not in {s for f in SPLITS["enterface"]["folds"].values() for s in f["test_subjects"]}


# ---------------------------------------------------------------------------------------------------------
# CREMA-D: 1001 tests in fold 1, 1019 in fold 2, 1037 in fold 3, 1055 in fold 4, 1091 in fold 5

CREMA = ["1001_DFA_ANG_XX", "1001_IEO_HAP_LO", "1019_DFA_SAD_XX", "1037_ITS_DIS_XX", "1055_TAI_ANG_XX"]
CREMA += ["1091_TIE_NEU_MD", "1091_WSI_FEA_HI"]


def test_crema_d_crops_faces_and_splits_by_subject(tmp_path, capsys):
    for name in CREMA:
        make_video(tmp_path / f"VideoFlash/{name}.flv")
    make_video(tmp_path / "VideoFlash/1019_IEO_DIS_HI.flv", black=True)  # no face: left out
    assert run_lab(crema_d.main, tmp_path, "--size", 16) is None
    crops = sorted((tmp_path / "face_crop/VideoFlash/1001_DFA_ANG_XX").iterdir())
    assert [p.name for p in crops] == ["000000.jpg", "000001.jpg", "000002.jpg", "000003.jpg"]
    assert cv2.imread(str(crops[0])).shape == (16, 16, 3)
    assert not (tmp_path / "face_crop/VideoFlash/1019_IEO_DIS_HI").exists()
    f = "face_crop/VideoFlash"
    assert lines(tmp_path / "out/split01/test.csv") == [f"{f}/1001_DFA_ANG_XX 0", f"{f}/1001_IEO_HAP_LO 3"]
    assert lines(tmp_path / "out/split01/train.csv") == [
        f"{f}/1019_DFA_SAD_XX 5",
        f"{f}/1037_ITS_DIS_XX 1",
        f"{f}/1055_TAI_ANG_XX 0",
        f"{f}/1091_TIE_NEU_MD 4",
        f"{f}/1091_WSI_FEA_HI 2",
    ]
    assert lines(tmp_path / "out/split05/test.csv") == [f"{f}/1091_TIE_NEU_MD 4", f"{f}/1091_WSI_FEA_HI 2"]
    assert lines(tmp_path / "out/split03/val.csv") == lines(tmp_path / "out/split03/test.csv")
    printed = capsys.readouterr().out
    assert "no face found in 1 videos" in printed
    assert "warning: split01 has 5 train / 2 test clips; upstream had 5979 / 1463" in printed

    assert run_lab(crema_d.main, tmp_path, "--size", 16) is None  # resumes: keeps the crops
    assert "kept 7 already cropped" in capsys.readouterr().out
    assert run_lab(crema_d.main, tmp_path, "--check") is None


@pytest.mark.parametrize(
    "name, message",
    [
        ("1001_DFA_ANGRY_XX.flv", r"VideoFlash: names not like 1001_DFA_ANG_XX.flv: 1001_DFA_ANGRY_XX.flv$"),
        (
            "1001_DFA_BOR_XX.flv",
            r"VideoFlash: unknown crema_d classes \(known: anger, .*\): 1001_DFA_BOR_XX.flv: 'BOR'$",
        ),
        ("1001_DFA_ANG_XX.mp4", r"VideoFlash: clips present in more than one format: 1001_DFA_ANG_XX$"),
    ],
)
def test_crema_d_refuses_unexpected_names(tmp_path, name, message):
    make_video(tmp_path / "VideoFlash/1001_DFA_ANG_XX.flv")
    make_video(tmp_path / "VideoFlash" / name)
    assert re.search(message, run_lab(crema_d.main, tmp_path))


def test_crema_d_refuses_a_root_without_videoflash(tmp_path):
    assert "VideoFlash: not found; is --root the CREMA-D root" in run_lab(crema_d.main, tmp_path)


# ---------------------------------------------------------------------------------------------------------
# RAVDESS: video-only speech (02-01-...) only; Actor_01 tests in fold 1, Actor_05 in fold 2, ...


def test_ravdess_keeps_video_only_speech_and_splits_by_actor(tmp_path):
    names = {
        "Actor_01/02-01-03-01-01-01-01.mp4": 2,  # happy
        "Actor_01/02-01-01-01-02-02-01.mp4": 0,  # neutral
        "Actor_01/01-01-03-01-01-01-01.mp4": None,  # audio-visual copy: skipped
        "Actor_05/02-02-03-01-01-01-05.mp4": None,  # song: skipped
        "Actor_05/02-01-08-02-01-01-05.mp4": 7,  # surprised
        "Actor_09/02-01-04-01-01-01-09.mp4": 3,  # sad
        "Actor_13/02-01-05-01-01-01-13.mp4": 4,  # angry
        "Actor_17/02-01-06-01-01-01-17.mp4": 5,  # fearful
        "Actor_24/02-01-02-02-01-01-24.mp4": 1,  # calm
    }
    for name in names:
        make_video(tmp_path / name)
    assert run_lab(ravdess.main, tmp_path) is None
    f = "face_crop"
    assert lines(tmp_path / "out/split01/test.csv") == [
        f"{f}/Actor_01/02-01-01-01-02-02-01 0",
        f"{f}/Actor_01/02-01-03-01-01-01-01 2",
    ]
    assert lines(tmp_path / "out/split02/test.csv") == [f"{f}/Actor_05/02-01-08-02-01-01-05 7"]
    assert lines(tmp_path / "out/split06/test.csv") == [f"{f}/Actor_24/02-01-02-02-01-01-24 1"]
    assert lines(tmp_path / "out/split04/test.csv") == [f"{f}/Actor_13/02-01-05-01-01-01-13 4"]
    assert len(lines(tmp_path / "out/split06/train.csv")) == 6
    assert not (tmp_path / "face_crop/Actor_01/01-01-03-01-01-01-01").exists()


@pytest.mark.parametrize(
    "name, message",
    [
        ("Actor_01/02-01-09-01-01-01-01.mp4", r"unknown ravdess classes .*: 02-01-09-01-01-01-01.mp4: '09'$"),
        ("Actor_01/clip.mp4", r"names not like 02-01-03-01-01-01-01.mp4: Actor_01/clip.mp4$"),
        ("Actor_01/01-01-03-01-01-01-01.mp4", r"no video-only speech clips 02-01-\*.mp4"),
    ],
)
def test_ravdess_refuses_unexpected_files(tmp_path, name, message):
    make_video(tmp_path / name)
    assert re.search(message, run_lab(ravdess.main, tmp_path))


# ---------------------------------------------------------------------------------------------------------
# eNTERFACE05: folder names vary; subject_1 tests in fold 1, subject_11 in fold 2, ..., subject_38 in fold 5


def test_enterface_tolerates_folder_names_and_leaves_out_subject_6(tmp_path, capsys):
    videos = {
        "subject 1/anger/sentence 1/s1_an_1.avi": 0,
        "subject 1/Happiness/sentence 2/s1_ha_2.avi": 3,
        "subject_11/disgust/sentence 1/s11_di_1.avi": 1,
        "subject 38/sadness/s38_sa_1.avi": 4,  # no sentence folder
        "subject 20/surprised/sentence 5/s20_su_5.avi": 5,  # folder name from its code 'su'
        "subject 25/misc/s25_fe_3.avi": 2,  # unknown folder: from the file name
        "Subject29/anger/sentence 1/s29_an_1.avi": 0,
        "subject 6/fear/sentence 1/s6_fe_1.avi": None,  # in no upstream fold
    }
    for name in videos:
        make_video(tmp_path / "enterface database" / name)
    assert run_lab(enterface.main, tmp_path / "enterface database") is None
    out, f = tmp_path / "enterface database/out", "face_crop"
    assert lines(out / "split01/test.csv") == [
        f"{f}/subject_1/Happiness/sentence_2/s1_ha_2 3",
        f"{f}/subject_1/anger/sentence_1/s1_an_1 0",
    ]
    assert lines(out / "split02/test.csv") == [f"{f}/subject_11/disgust/sentence_1/s11_di_1 1"]
    assert lines(out / "split03/test.csv") == [
        f"{f}/subject_20/surprised/sentence_5/s20_su_5 5",
        f"{f}/subject_25/misc/s25_fe_3 2",
    ]
    assert lines(out / "split04/test.csv") == [f"{f}/Subject29/anger/sentence_1/s29_an_1 0"]
    assert lines(out / "split05/test.csv") == [f"{f}/subject_38/sadness/s38_sa_1 4"]
    assert len(lines(out / "split05/train.csv")) == 6
    assert "left out the clips of subjects in no upstream fold: subject_6" in capsys.readouterr().out


@pytest.mark.parametrize(
    "name, message",
    [
        ("subject 2/boredom/s2_bo_1.avi", r"unknown enterface classes .*: subject 2/boredom/s2_bo_1.avi$"),
        ("anger/s2_an_1.avi", r"videos outside a 'subject N' folder: anger/s2_an_1.avi$"),
    ],
)
def test_enterface_refuses_unknown_emotions_and_stray_videos(tmp_path, name, message):
    make_video(tmp_path / "subject 1/anger/s1_an_1.avi")
    make_video(tmp_path / name)
    assert re.search(message, run_lab(enterface.main, tmp_path))
