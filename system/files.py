"""The one atomic write: a file (or folder) exists whole or not at all, whoever is killed when."""

import os
import shutil
from pathlib import Path


def write_atomic(path, write):
    """`write(tmp)` fills a temporary path beside `path` (a file or a folder), which is flushed to disk and renamed
    over `path`. On any error, or an interrupt, the temporary is removed and `path` is as it was. The temporary is
    `.<name>.<pid>.tmp`, so `leftovers` finds what a killed process left."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        for file in sorted(tmp.rglob("*")) if tmp.is_dir() else [tmp]:
            _fsync(file)
        os.replace(tmp, path)
    except BaseException:
        remove(tmp)
        raise
    return path


def leftovers(folder, pattern="*"):
    """The temporaries of writes that a killed process left unfinished in `folder`, for names matching `pattern`."""
    return list(Path(folder).glob(f".{pattern}.*.tmp"))


def remove(path):
    """Delete a file or a folder, if there."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
