"""What every dataset preparation script shares: the command line, layout errors that name the first few
offending entries, media validation, writing the split files, the summary table and `--check`.

A script lists its clips as `Split`s (`split01/train`, ...: `(path, label)` pairs, paths relative to the
dataset root) and hands them to `run`, which validates them against the disk, writes `<out>/<name>.csv`
(one `<path> <label>` per line, no header) and prints the summary. The data loader resolves the paths with
`--data_root <dataset root>`.
"""

import argparse
import os
import statistics
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from datasets.annotations import AnnotationError, read_annotations, write_annotations
from datasets.labels import LabelMap
from datasets.video_io import FRAME_EXTENSIONS, VideoReadError, count_frames

VIDEO_EXTS = (".mp4", ".avi", ".flv", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")


class LayoutError(Exception):
    """The files on disk are not what a script expects; the message is one line meant for the user."""


@dataclass
class Split:
    name: str  # 'split01/train', or 'train' for datasets with one split
    listed_in: str  # where the entries come from, named in error messages
    entries: list[tuple[str, int]]  # (path relative to the dataset root, label)


def first_few(items: list[str], n: int = 5) -> str:
    shown = ", ".join(str(i) for i in items[:n])
    return shown + (f" (+{len(items) - n} more)" if len(items) > n else "")


def require(offenders: list[str], problem: str) -> None:
    """Raise a LayoutError naming the first few offenders, if there are any."""
    if offenders:
        raise LayoutError(f"{problem}: {first_few(offenders)}")


def find_file(root: Path, rel: str, dataset: str) -> Path:
    if not (root / rel).is_file():
        raise LayoutError(f"{root / rel}: not found; is --root the {dataset} root?")
    return root / rel


def read_rows(path: Path, sep: str | None = None) -> list[tuple[int, list[str]]]:
    """(line number, stripped fields) of every non-blank line."""
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    return [(i, [f.strip() for f in line.strip().split(sep)]) for i, line in enumerate(lines, 1) if line.strip()]


def class_index(labels: LabelMap, name: str, where: str, unknown: list[str]) -> int:
    """Label index of a class name or code; unknown names are collected as '<where>: <name>'."""
    try:
        return labels.index(name)
    except ValueError:
        unknown.append(f"{where}: {name!r}")
        return -1


def unknown_classes(unknown: list[str], labels: LabelMap, listed_in: str) -> None:
    require(unknown, f"{listed_in}: unknown {labels.dataset} classes (known: {', '.join(labels.classes)})")


def read_class_name_split(
    root: Path, rel: str, dataset: str, labels: LabelMap, line_format: str, to_path
) -> list[tuple[str, int]]:
    """An official split file of '<item> <class name>' lines -> [(to_path(item), label)]. Malformed lines and
    unknown class names are errors naming the file and the first few lines."""
    entries, malformed, unknown = [], [], []
    for i, fields in read_rows(find_file(root, rel, dataset)):
        if len(fields) != 2:
            malformed.append(f"line {i}: {' '.join(fields)!r}")
            continue
        entries.append((to_path(fields[0]), class_index(labels, fields[1], f"line {i}", unknown)))
    require(malformed, f"{rel}: expected {line_format}")
    unknown_classes(unknown, labels, rel)
    return entries


# ---------------------------------------------------------------------------------------------------------
# Media on disk


def frame_files(folder: Path) -> Counter:
    """Number of image files in a folder, by extension."""
    with os.scandir(folder) as it:
        exts = (os.path.splitext(e.name)[1].lower() for e in it if e.is_file())
        return Counter(ext for ext in exts if ext in FRAME_EXTENSIONS)


def video_frames(path: Path) -> int:
    """Frame count of a video file, 0 when no decoder can open it."""
    try:
        return count_frames(path)
    except VideoReadError:
        return 0


def count_media(
    root: Path,
    split: Split,
    frame_ext: str,
    count_video: Callable[[Path], int | None],
    counts: dict[str, int | None],
) -> None:
    """Add the frames per clip of one split to `counts`, refusing clips that are missing, empty, of the wrong
    extension or undecodable. A path with a video extension is a video file, any other a folder of frames."""
    missing, empty, wrong, broken = [], [], [], []
    for path, _ in split.entries:
        if path in counts:
            continue
        full = root / path
        if path.lower().endswith(VIDEO_EXTS):
            if not full.is_file():
                missing.append(path)
            elif (n := counts.setdefault(path, count_video(full))) is not None and n <= 0:
                broken.append(path)
        elif not full.is_dir():
            missing.append(path)
        elif not (files := frame_files(full)):
            empty.append(path)
        elif not files[frame_ext]:
            wrong.append(f"{path} ({', '.join(files)})")
        else:
            counts[path] = files[frame_ext]
    total = len(split.entries)
    require(missing, f"{split.listed_in}: {len(missing)} of {total} clips not found under {root}")
    require(empty, f"{split.listed_in}: {len(empty)} of {total} clip folders hold no frames")
    require(wrong, f"{split.listed_in}: {len(wrong)} of {total} clip folders hold no {frame_ext} frames")
    require(broken, f"{split.listed_in}: {len(broken)} of {total} videos cannot be decoded")


def check_paths(split: Split) -> None:
    """Refuse empty splits and paths with spaces (upstream's loader splits lines on spaces)."""
    require([p for p, _ in split.entries if " " in p], f"{split.listed_in}: paths with spaces")
    if not split.entries:
        raise LayoutError(f"{split.listed_in}: no clips for {split.name}")


# ---------------------------------------------------------------------------------------------------------
# Annotation files


def write_split(root: Path, out: Path, split: Split) -> None:
    entries = [(root / path, label) for path, label in split.entries]
    write_annotations(out / f"{split.name}.csv", entries, relative_to=root)


def read_written(root: Path, out: Path, num_classes: int) -> list[Split]:
    """The annotation files under --out, as Splits with paths relative to root again."""
    files = sorted(out.rglob("*.csv"))
    if not files:
        raise LayoutError(f"{out}: no annotation files to check; run without --check first")
    splits = []
    for f in files:
        try:
            samples = read_annotations(f, data_root=root, num_classes=num_classes, check_paths=False)
        except AnnotationError as e:
            raise LayoutError(str(e)) from None
        entries = [(Path(os.path.relpath(s.path, root)).as_posix(), s.label) for s in samples]
        splits.append(Split(f.relative_to(out).with_suffix("").as_posix(), str(f), entries))
    return splits


# ---------------------------------------------------------------------------------------------------------
# Summary


def frame_stats(counts: list[int | None]) -> str:
    known = [c for c in counts if c is not None]
    if not known:
        return "-"
    return f"{min(known)}/{statistics.median(known):g}/{max(known)}"


def summary(title: str, splits: list[Split], labels: LabelMap, counts: dict[str, int | None]) -> str:
    """One table per fold: clips per split and class, then frames per clip (min/median/max)."""
    folds: dict[str, list[Split]] = {}
    for split in splits:
        folds.setdefault(split.name.rpartition("/")[0], []).append(split)
    width = max(12, *(len(c) + 2 for c in labels.classes))
    blocks = []
    for fold, members in folds.items():
        cols = [s.name.rpartition("/")[2] for s in members]
        per_class = [Counter(label for _, label in s.entries) for s in members]
        rows = [f"{title} {fold}".rstrip(), "class".ljust(width) + "".join(f"{c:>16}" for c in cols)]
        for k, name in enumerate(labels.classes):
            rows.append(name.ljust(width) + "".join(f"{c[k]:>16}" for c in per_class))
        rows.append("total".ljust(width) + "".join(f"{len(s.entries):>16}" for s in members))
        stats = [frame_stats([counts.get(p) for p, _ in s.entries]) for s in members]
        rows.append("frames/clip".ljust(width) + "".join(f"{s:>16}" for s in stats))
        blocks.append("\n".join(rows))
    return "\n\n".join(blocks)


# ---------------------------------------------------------------------------------------------------------
# Command line


def dataset_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--root", type=Path, required=True, help="dataset root, as the official archive unpacks")
    parser.add_argument("--out", type=Path, required=True, help="folder for the annotation files")
    parser.add_argument("--check", action="store_true", help="re-validate existing annotation files in --out")
    return parser


@contextmanager
def user_errors(dataset: str) -> Iterator[None]:
    """Turn layout errors into one line on stderr and exit status 1, without a traceback."""
    try:
        yield
    except LayoutError as e:
        raise SystemExit(f"{dataset}: error: {e}") from None


def run(
    args: argparse.Namespace,
    labels: LabelMap,
    frame_ext: str,
    collect: Callable[[], list[Split]],
    count_video: Callable[[Path], int | None] = video_frames,
) -> None:
    """Validate the splits `collect` lists (or, with --check, the files in --out), write them, summarise.

    `count_video` gives the frames of a video clip (0: cannot be decoded, None: not counted)."""
    root, out = args.root, args.out
    if not root.is_dir():
        raise LayoutError(f"--root {root} is not a directory")
    splits = read_written(root, out, labels.num_classes) if args.check else collect()
    counts: dict[str, int | None] = {}
    for split in splits:
        check_paths(split)
        count_media(root, split, frame_ext, count_video, counts)
    if not args.check:
        for split in splits:
            write_split(root, out, split)
    print(summary(labels.dataset, splits, labels, counts))
    verb = "checked" if args.check else "wrote"
    print(f"\n{verb} {len(splits)} annotation files in {out}; paths are relative to {root.resolve()}:")
    print(f"pass --data_root {root.resolve()} to training (DATA_ROOT=... for scripts/<dataset>/*.sh)")
