"""--val_split: a validation split held out of train.csv, stratified by class, the same for a seed, disjoint from
what trains and from the test list."""

from collections import Counter

import pytest

from datasets.annotations import write_annotations
from datasets.val_split import hold_out, split_train_list
from run_finetuning import build_datasets, get_args


def make_fold(folder, counts=(40, 20, 10, 1)):
    """train.csv with counts[c] clips of class c, test.csv with other clips; each clip a one-frame folder."""
    clips = {"train": [], "test": []}
    for part, scale in (("train", 1), ("test", 2)):
        for label, count in enumerate(counts):
            for i in range(count // scale or 1):
                clip = folder / "clips" / f"{part}_{label}_{i}"
                clip.mkdir(parents=True)
                (clip / "00001.jpg").write_bytes(b"jpg")
                clips[part].append((clip, label))
        write_annotations(folder / f"{part}.csv", clips[part], relative_to=folder)
    return clips


def test_the_held_out_clips_are_disjoint_from_train_and_test(tmp_path):
    clips = make_fold(tmp_path)
    train, val = split_train_list(tmp_path / "train.csv", 0.1, seed=0, data_root=tmp_path)
    train_paths, val_paths = {s.path for s in train}, {s.path for s in val}
    assert not train_paths & val_paths
    assert train_paths | val_paths == {str(c) for c, _ in clips["train"]}
    assert not val_paths & {str(c) for c, _ in clips["test"]}


def test_every_class_gives_its_share(tmp_path):
    make_fold(tmp_path)
    train, val = split_train_list(tmp_path / "train.csv", 0.1, seed=0, data_root=tmp_path)
    assert Counter(s.label for s in val) == {0: 4, 1: 2, 2: 1}  # the class of 1 clip stays in train
    assert Counter(s.label for s in train) == {0: 36, 1: 18, 2: 9, 3: 1}
    assert [s.line for s in train] == sorted(s.line for s in train)  # the list's order is kept


def test_the_split_is_the_same_for_a_seed_and_changes_with_it(tmp_path):
    make_fold(tmp_path)
    first, again, other = (split_train_list(tmp_path / "train.csv", 0.1, seed, tmp_path)[1] for seed in (0, 0, 1))
    assert first == again
    assert first != other


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 10])
def test_a_fraction_outside_zero_one_is_refused(fraction):
    with pytest.raises(ValueError, match="--val_split"):
        hold_out([], fraction)


def test_run_finetuning_validates_on_the_held_out_part(tmp_path):
    make_fold(tmp_path)
    (tmp_path / "val.csv").write_text((tmp_path / "test.csv").read_text())  # upstream's val.csv
    argv = ["--data_path", str(tmp_path), "--data_root", str(tmp_path), "--nb_classes", "4", "--seed", "3"]
    _, upstream_val, _ = build_datasets(get_args(argv), 4)
    train, val, test = build_datasets(get_args([*argv, "--val_split", "0.1"]), 4)
    assert [s.path for s in upstream_val.samples] == [s.path for s in test.samples]
    assert (train.samples, val.samples) == split_train_list(tmp_path / "train.csv", 0.1, 3, tmp_path)
