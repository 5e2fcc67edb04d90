"""A validation split held out of a fold's training list, so that checkpoint-best.pth is chosen without the test set.

Upstream validated on the test set: val.csv is a copy of test.csv for every dataset, and the published numbers
(the last checkpoint's) come from that protocol, which stays the default. `run_finetuning.py --val_split 0.1`
instead holds out 10% of each class of train.csv, drawn with --seed, trains on the other 90% and validates on
the held-out part; test.csv is untouched.
"""

import random
from collections import defaultdict

from datasets.annotations import read_annotations


def hold_out(samples, fraction, seed=0):
    """(train, val): round(fraction x n) of each class's n samples (anything with .label), drawn with `seed`, go to
    val and the rest to train, both in the input order. A class with one sample stays in train."""
    if not 0 < fraction < 1:
        raise ValueError(f"--val_split must be a fraction in (0, 1), got {fraction}")
    by_class = defaultdict(list)
    for index, sample in enumerate(samples):
        by_class[sample.label].append(index)
    rng = random.Random(seed)
    held = set()
    for label in sorted(by_class):
        held.update(rng.sample(by_class[label], round(fraction * len(by_class[label]))))
    train = [s for i, s in enumerate(samples) if i not in held]
    val = [s for i, s in enumerate(samples) if i in held]
    return train, val


def split_train_list(train_file, fraction, seed, data_root=None, num_classes=None):
    """hold_out() of the samples an annotation file lists (datasets.annotations.read_annotations)."""
    return hold_out(read_annotations(train_file, data_root, num_classes), fraction, seed)
