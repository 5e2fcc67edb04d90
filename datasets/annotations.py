"""Annotation files: one clip per line, `<path> <label>`, validated on load.

Accepted layouts:
- upstream: space-separated, no header; the last field is the label, so paths may contain spaces;
- CSV: comma-separated, optionally quoted, with or without a header (`path,label`, or any names: the
  column named path/video/file/clip holds the path, the one named label/emotion/class/target the label).
A first line whose label field is not an integer is a header. Relative paths are resolved against
`data_root` when given, else the annotation file's folder, so a split moves with its data.
"""

import csv
import logging
import os
from dataclasses import dataclass

from datasets.video_io import FRAME_EXTENSIONS

logger = logging.getLogger(__name__)

PATH_COLUMNS = ("path", "video", "video_path", "file", "filename", "clip", "name")
LABEL_COLUMNS = ("label", "emotion", "class", "target")


class AnnotationError(ValueError):
    """Problems in an annotation file. The message is one line, `<file>:<line>: <problem>`;
    `problems` holds every such line (logged as well when there are several)."""

    def __init__(self, problems):
        self.problems = list(problems)
        more = f" (and {len(self.problems) - 1} more problems)" if len(self.problems) > 1 else ""
        super().__init__(self.problems[0] + more)


@dataclass(frozen=True)
class Sample:
    path: str  # absolute
    label: int
    line: int = 0  # 1-based line in the annotation file


def _is_int(text):
    try:
        int(text)
    except ValueError:
        return False
    return True


def _rows(lines):
    """(line number, path, label) text per non-blank line after the header, if any; ("", "") if malformed."""
    numbered = [(n, line.strip()) for n, line in enumerate(lines, start=1) if line.strip()]
    if not numbered:
        return []
    first = numbered[0][1]
    is_csv = "," in first and not _is_int(first.split()[-1])
    if is_csv:
        parsed = [(n, row) for (n, _), row in zip(numbered, csv.reader(t for _, t in numbered), strict=True)]
    else:
        parsed = [(n, text.rsplit(None, 1)) for n, text in numbered]
    path_col, label_col = 0, -1
    header = parsed[0][1]
    if not _is_int(header[-1].strip()):
        names = [h.strip().lower() for h in header]
        path_col = next((names.index(c) for c in PATH_COLUMNS if c in names), 0)
        label_col = next((names.index(c) for c in LABEL_COLUMNS if c in names), len(names) - 1)
        parsed = parsed[1:]
    rows = []
    for n, fields in parsed:
        well_formed = len(fields) >= 2 and max(path_col, label_col) < len(fields)
        rows.append((n, fields[path_col].strip(), fields[label_col].strip()) if well_formed else (n, "", ""))
    return rows


def _path_problem(path):
    if not os.path.exists(path):
        return "path does not exist"
    if os.path.isdir(path):
        if not any(name.lower().endswith(FRAME_EXTENSIONS) for name in os.listdir(path)):
            return "folder holds no jpg/png frames"
    elif os.path.getsize(path) == 0:
        return "file is empty"
    return None


def read_annotations(path, data_root=None, num_classes=None, check_paths=True):
    """Samples of an annotation file. Raises AnnotationError listing every bad line: malformed line,
    label not an integer or out of [0, num_classes), missing path, empty file or frame folder, duplicate."""
    path = os.fspath(path)
    base = os.path.abspath(data_root if data_root is not None else os.path.dirname(path))
    try:
        with open(path, encoding="utf-8") as f:
            rows = _rows(f.read().splitlines())
    except FileNotFoundError:
        raise AnnotationError([f"{path}: annotation file not found"]) from None
    except IsADirectoryError:
        raise AnnotationError([f"{path}: is a folder, not an annotation file"]) from None
    except UnicodeDecodeError:
        raise AnnotationError([f"{path}: not a text annotation file"]) from None
    samples, problems, first_line = [], [], {}
    for n, clip, label in rows:
        where = f"{path}:{n}:"
        if not clip or not label:
            problems.append(f"{where} expected '<path> <label>'")
            continue
        if not _is_int(label):
            problems.append(f"{where} label {label!r} is not an integer")
            continue
        label = int(label)
        if label < 0 or (num_classes is not None and label >= num_classes):
            problems.append(f"{where} label {label} out of range [0, {num_classes or 'inf'})")
        clip = os.path.normpath(os.path.join(base, os.path.expanduser(clip)))
        problem = _path_problem(clip) if check_paths else None
        if problem:
            problems.append(f"{where} {problem}: {clip}")
        if clip in first_line:
            problems.append(f"{where} duplicate of line {first_line[clip]}: {clip}")
        first_line.setdefault(clip, n)
        samples.append(Sample(clip, label, n))
    if not samples and not problems:
        problems.append(f"{path}:1: no samples")
    if len(problems) > 1:  # the error names the first; the log lists them all
        for problem in problems:
            logger.error(problem)
    if problems:
        raise AnnotationError(problems)
    return samples


def write_annotations(path, samples_or_pairs, relative_to=None):
    """Write `<path> <label>` lines, paths relative to `relative_to` (default: the annotation file's folder)."""
    path = os.fspath(path)
    base = os.path.abspath(relative_to if relative_to is not None else os.path.dirname(path))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for item in samples_or_pairs:
            clip, label = (item.path, item.label) if isinstance(item, Sample) else item
            f.write(f"{os.path.relpath(os.path.abspath(clip), base)} {int(label)}\n")
