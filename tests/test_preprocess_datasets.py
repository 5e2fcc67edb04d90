"""DFEW, FERV39k, MAFW and VoxCeleb2 preparation on miniature copies of the official layouts: the annotation
files line by line, the label maps, --check, and one clear line for each broken layout."""

import os
import re
import shutil

import cv2
import numpy as np
import pytest
from script_runs import lines, run_main

from datasets.labels import get_label_map
from datasets.video_io import write_video
from preprocess import dfew, ferv39k, mafw, voxceleb2

IDS = range(1, 11)


def make_frames(folder, n=3, ext=".jpg"):
    folder.mkdir(parents=True)
    for i in range(1, n + 1):
        cv2.imwrite(str(folder / f"{folder.name}_{i}{ext}"), np.zeros((8, 8, 3), np.uint8))


# ---------------------------------------------------------------------------------------------------------
# DFEW: ids 1-10, code (id % 7) + 1, fold k tests the ids with (id - 1) % 5 == k - 1


def make_dfew(root, clips="jpg_256", split_dir="single-labeled"):
    for k in range(1, 6):
        for part in ("train", "test"):
            ids = [i for i in IDS if ((i - 1) % 5 == k - 1) == (part == "test")]
            folder = root / "EmoLabel_DataSplit" / f"{part}({split_dir})"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"set_{k}.csv").write_text("video_name,label\n" + "".join(f"{i},{i % 7 + 1}\n" for i in ids))
    for i in IDS:
        if clips == "original":
            (root / "Clip/original").mkdir(parents=True, exist_ok=True)
            write_video(root / f"Clip/original/{i:05d}.mp4", np.zeros((4, 16, 16, 3), np.uint8))
        else:
            make_frames(root / f"Clip/{clips}/{i:05d}", n=16 if clips.endswith("16f") else 2 + i)


def test_dfew_class_order():
    assert get_label_map("dfew").classes == ("happy", "sad", "neutral", "angry", "surprise", "disgust", "fear")


@pytest.mark.parametrize("clips", ["jpg_256", "clip_224x224_16f", "original"])
def test_dfew_writes_five_folds_line_by_line(tmp_path, capsys, clips):
    root, out = tmp_path / "DFEW", tmp_path / "out"
    make_dfew(root, clips)
    assert run_main(dfew.main, "--root", root, "--out", out, "--clips", clips) is None
    suffix = ".mp4" if clips == "original" else ""
    for k in range(1, 6):
        test = [i for i in IDS if (i - 1) % 5 == k - 1]
        train = [i for i in IDS if i not in test]
        assert lines(out / f"split0{k}/train.csv") == [f"Clip/{clips}/{i:05d}{suffix} {i % 7}" for i in train]
        assert lines(out / f"split0{k}/test.csv") == [f"Clip/{clips}/{i:05d}{suffix} {i % 7}" for i in test]
        assert lines(out / f"split0{k}/val.csv") == lines(out / f"split0{k}/test.csv")
    assert f"Clip/{clips}/00007{suffix} 0" in lines(out / "split01/train.csv")  # code 1 (Happy) -> 0
    assert f"Clip/{clips}/00006{suffix} 6" in lines(out / "split02/train.csv")  # code 7 (Fear) -> 6
    fold1 = capsys.readouterr().out.split("dfew split02")[0]
    frames = {"jpg_256": "4/8/12", "clip_224x224_16f": "16/16/16", "original": "4/4/4"}[clips]
    assert re.search(rf"frames/clip +{frames} ", fold1)  # min/median/max frames of the 8 train clips
    assert f"{'fear':12}{0:16}{1:16}{1:16}" in fold1  # id 6 (code 7) tests in fold 1


def test_dfew_finds_the_official_frames_or_upstreams_name_for_them(tmp_path):
    make_dfew(tmp_path / "official", "clip_224x224")
    make_dfew(tmp_path / "upstream", "jpg_256")
    for name, clips in (("official", "clip_224x224"), ("upstream", "jpg_256")):
        assert run_main(dfew.main, "--root", tmp_path / name, "--out", tmp_path / name / "out") is None
        assert lines(tmp_path / name / "out/split01/test.csv")[0] == f"Clip/{clips}/00001 1"


def test_dfew_accepts_the_readme_spelling_single_labeled(tmp_path):
    make_dfew(tmp_path, split_dir="single_labeled")
    assert run_main(dfew.main, "--root", tmp_path, "--out", tmp_path / "out") is None
    assert len(lines(tmp_path / "out/split05/train.csv")) == 8


def break_dfew(root, how):
    if how == "split file":
        os.remove(root / "EmoLabel_DataSplit/test(single-labeled)/set_3.csv")
    elif how == "frames":
        shutil.rmtree(root / "Clip/jpg_256/00004")
    elif how == "empty":
        shutil.rmtree(root / "Clip/jpg_256/00004")
        (root / "Clip/jpg_256/00004").mkdir()
    elif how == "extension":
        shutil.rmtree(root / "Clip/jpg_256/00002")
        make_frames(root / "Clip/jpg_256/00002", ext=".png")
    elif how == "label":
        path = root / "EmoLabel_DataSplit/train(single-labeled)/set_1.csv"
        path.write_text(path.read_text().replace("2,3\n", "2,9\n"))
    elif how == "header":
        path = root / "EmoLabel_DataSplit/train(single-labeled)/set_1.csv"
        path.write_text(path.read_text().replace("video_name,label\n", ""))
    elif how == "only 16f":
        (root / "Clip/jpg_256").rename(root / "Clip/clip_224x224_16f")


@pytest.mark.parametrize(
    "how, message",
    [
        ("split file", r"test\(single-labeled\)/set_3.csv: not found; is --root the DFEW root\?"),
        ("frames", r"train\(single-labeled\)/set_1.csv: 1 of 8 clips not found under .*: Clip/jpg_256/00004$"),
        ("empty", r"set_1.csv: 1 of 8 clip folders hold no frames: Clip/jpg_256/00004$"),
        ("extension", r"set_1.csv: 1 of 8 clip folders hold no .jpg frames: Clip/jpg_256/00002 \(.png\)$"),
        ("label", r"set_1.csv: expected '<video number>,<label 1-7>': line 2: '2,9'$"),
        ("header", r"set_1.csv: expected the header 'video_name,label'$"),
        ("only 16f", r"Clip/clip_224x224: not found; found clip_224x224_16f: pass --clips clip_224x224_16f$"),
    ],
)
def test_dfew_refuses_broken_layouts(tmp_path, how, message):
    make_dfew(tmp_path)
    break_dfew(tmp_path, how)
    error = run_main(dfew.main, "--root", tmp_path, "--out", tmp_path / "out")
    assert error is not None and error.startswith("dfew: error: ")
    assert re.search(message, error), error
    assert not (tmp_path / "out").exists()  # nothing is written from a broken layout


def test_bad_root_is_one_line(tmp_path):
    assert "is not a directory" in run_main(dfew.main, "--root", tmp_path / "nope", "--out", tmp_path / "out")


def test_check_revalidates_written_files_against_the_disk(tmp_path, capsys):
    out = tmp_path / "out"
    make_dfew(tmp_path / "DFEW")
    assert run_main(dfew.main, "--root", tmp_path / "DFEW", "--out", out) is None
    assert run_main(dfew.main, "--root", tmp_path / "DFEW", "--out", out, "--check") is None
    assert "checked 15 annotation files" in capsys.readouterr().out

    shutil.rmtree(tmp_path / "DFEW/Clip/jpg_256/00003")
    error = run_main(dfew.main, "--root", tmp_path / "DFEW", "--out", out, "--check")
    assert "split01/train.csv: 1 of 8 clips not found" in error and error.endswith("Clip/jpg_256/00003")

    (out / "split04/test.csv").write_text("Clip/jpg_256/00004 7\n")
    error = run_main(dfew.main, "--root", tmp_path / "DFEW", "--out", out, "--check")
    assert "split04/test.csv:1: label 7 out of range [0, 7)" in error

    assert "no annotation files to check" in run_main(
        dfew.main, "--root", tmp_path / "DFEW", "--out", tmp_path / "empty", "--check"
    )


# ---------------------------------------------------------------------------------------------------------
# FERV39k

FERV = [("Action/Happy/0001", "Happy"), ("Action/Fear/0002", "Fear"), ("Crime/Angry/0003", "Angry")]
FERV_TEST = [("Speech/Sad/0004", "Sad"), ("War/Surprise/0005", "Surprise"), ("War/Disgust/0006", "Disgust")]


def make_ferv39k(root, train=FERV, test=FERV_TEST):
    setups = root / "4_setups/All_scenes"
    setups.mkdir(parents=True)
    for name, rows in (("train_All.csv", train), ("test_All.csv", test)):
        (setups / name).write_text("".join(f"{path} {label}\n" for path, label in rows))
    for path, _ in train + test:
        make_frames(root / "2_ClipsforFaceCrop" / path)


def test_ferv39k_maps_class_names_to_the_dfew_order(tmp_path):
    make_ferv39k(tmp_path, test=FERV_TEST + [("Talk/Neutral/0007", "Neutral")])
    assert run_main(ferv39k.main, "--root", tmp_path, "--out", tmp_path / "out") is None
    assert lines(tmp_path / "out/all_scenes/train.csv") == [
        "2_ClipsforFaceCrop/Action/Happy/0001 0",
        "2_ClipsforFaceCrop/Action/Fear/0002 6",
        "2_ClipsforFaceCrop/Crime/Angry/0003 3",
    ]
    assert lines(tmp_path / "out/all_scenes/test.csv") == [
        "2_ClipsforFaceCrop/Speech/Sad/0004 1",
        "2_ClipsforFaceCrop/War/Surprise/0005 4",
        "2_ClipsforFaceCrop/War/Disgust/0006 5",
        "2_ClipsforFaceCrop/Talk/Neutral/0007 2",
    ]
    assert lines(tmp_path / "out/all_scenes/val.csv") == lines(tmp_path / "out/all_scenes/test.csv")


def test_ferv39k_refuses_unknown_classes_missing_files_and_frames(tmp_path):
    make_ferv39k(tmp_path / "a", train=FERV + [("Action/Contempt/0009", "Contempt")])
    error = run_main(ferv39k.main, "--root", tmp_path / "a", "--out", tmp_path / "out")
    assert error.endswith(
        "train_All.csv: unknown ferv39k classes (known: happy, sad, neutral, angry, surprise, "
        "disgust, fear): line 4: 'Contempt'"
    )
    make_ferv39k(tmp_path / "b")
    os.remove(tmp_path / "b/4_setups/All_scenes/test_All.csv")
    assert "test_All.csv: not found; is --root the FERV39k root?" in run_main(
        ferv39k.main, "--root", tmp_path / "b", "--out", tmp_path / "out"
    )
    make_ferv39k(tmp_path / "c")
    shutil.rmtree(tmp_path / "c/2_ClipsforFaceCrop/War")
    error = run_main(ferv39k.main, "--root", tmp_path / "c", "--out", tmp_path / "out")
    assert error.endswith(
        "test_All.csv: 2 of 3 clips not found under "
        f"{tmp_path / 'c'}: 2_ClipsforFaceCrop/War/Surprise/0005, 2_ClipsforFaceCrop/War/Disgust/0006"
    )


# ---------------------------------------------------------------------------------------------------------
# MAFW: 11 classes by name; every fold lists them in a different order

MAFW_CLASSES = get_label_map("mafw").classes


def make_mafw(root, ext=".png", extra=()):
    for k in range(1, 6):
        folder = root / f"split/single/no_caption/set_{k}"
        folder.mkdir(parents=True)
        names = list(MAFW_CLASSES[k:] + MAFW_CLASSES[:k])
        (folder / "train.txt").write_text("".join(f"{i:05d}.mp4 {n}\n" for i, n in enumerate(names, 1)))
        (folder / "test.txt").write_text(f"{20 + k:05d}.mp4 {names[0]}\n" + "".join(extra))
    for i in [*range(1, 12), *range(21, 26)]:
        make_frames(root / f"data/frames/{i:05d}", ext=ext)


def test_mafw_maps_classes_by_name_never_by_position(tmp_path):
    assert MAFW_CLASSES == (
        "anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise",
        "contempt", "anxiety", "helplessness", "disappointment",
    )  # fmt: skip
    make_mafw(tmp_path)
    assert run_main(mafw.main, "--root", tmp_path, "--out", tmp_path / "out") is None
    for k in range(1, 6):
        expected = [f"data/frames/{i:05d} {(i - 1 + k) % 11}" for i in range(1, 12)]
        assert lines(tmp_path / f"out/split0{k}/train.csv") == expected
        assert lines(tmp_path / f"out/split0{k}/test.csv") == [f"data/frames/{20 + k:05d} {k}"]
    assert lines(tmp_path / "out/split01/train.csv")[-1] == "data/frames/00011 0"  # anger, listed last in fold 1


@pytest.mark.parametrize(
    "ext, extra, message",
    [
        (".jpg", (), r"set_1/train.txt: 11 of 11 clip folders hold no .png frames: data/frames/00001 \(.jpg\)"),
        (".png", ("00001.mp4 boredom\n",), r"set_1/test.txt: unknown mafw classes .*: line 2: 'boredom'$"),
        (".png", ("00001.mp4\n",), r"set_1/test.txt: expected '<clip>.mp4 <class name>': line 2: '00001.mp4'$"),
    ],
)
def test_mafw_refuses_broken_layouts(tmp_path, ext, extra, message):
    make_mafw(tmp_path, ext, extra)
    error = run_main(mafw.main, "--root", tmp_path, "--out", tmp_path / "out")
    assert re.search(message, error), error


# ---------------------------------------------------------------------------------------------------------
# VoxCeleb2


def make_voxceleb2(root):
    clips = ["dev/mp4/id00001/abc/00001.mp4", "dev/mp4/id00001/abc/00002.mp4", "dev/mp4/id00002/xyz/00001.mp4"]
    for clip in clips:
        (root / clip).parent.mkdir(parents=True, exist_ok=True)
        write_video(root / clip, np.zeros((5, 16, 16, 3), np.uint8))
    (root / clips[1]).write_bytes(b"\x00not a video" * 10)
    (root / "dev/mp4/id00002/xyz/notes.txt").write_text("ignored")
    return clips


def test_voxceleb2_lists_every_clip_and_verify_drops_what_cannot_be_decoded(tmp_path, capsys):
    clips = make_voxceleb2(tmp_path / "vox")
    assert run_main(voxceleb2.main, "--root", tmp_path / "vox", "--out", tmp_path / "a") is None
    assert lines(tmp_path / "a/info_clean.csv") == [f"{c} 0" for c in clips]
    capsys.readouterr()
    args = ("--root", tmp_path / "vox", "--out", tmp_path / "b", "--verify", "--workers", 2)
    assert run_main(voxceleb2.main, *args) is None
    assert lines(tmp_path / "b/info_clean.csv") == [f"{clips[0]} 0", f"{clips[2]} 0"]
    assert lines(tmp_path / "b/broken.txt") == [clips[1]]
    printed = capsys.readouterr().out
    assert f"dropped 1 clips the decoder cannot open: {clips[1]}" in printed and "5/5/5" in printed
    assert run_main(voxceleb2.main, "--root", tmp_path / "vox", "--out", tmp_path / "b", "--check") is None


def test_voxceleb2_refuses_a_root_without_dev_mp4(tmp_path):
    (tmp_path / "dev/mp4").mkdir(parents=True)
    assert run_main(voxceleb2.main, "--root", tmp_path, "--out", tmp_path / "o").endswith(
        "dev/mp4: no <speaker>/<video>/<clip>.mp4 files"
    )
    assert "is --root the VoxCeleb2 root" in run_main(voxceleb2.main, "--root", tmp_path / "dev", "--out", tmp_path)
