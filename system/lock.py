"""One writer per output folder, and workers that do not outlive their writer.

A run (a pack, a training run, a batch run) holds `<folder>/.lock` while it writes there: a POSIX record lock
(fcntl), which the kernel drops when the holding process dies, kill -9 included, so the next run takes over a
folder a dead run held. The file names the holder, so a second run into a held folder is refused in one line
that says which process on which host holds it. The lock is not inherited by child processes (data loader or
packing workers): `die_with_parent` makes such workers end with their parent instead. Across nodes on shared
storage the lock holds where the file system passes record locks to its server (NFS: lockd or NFSv4; Lustre
mounted with `flock`); on a mount without lock support (`nolock`, `localflock`) it guards one node's processes
only, and two nodes must not be given the same folder.
"""

import contextlib
import ctypes
import errno
import fcntl
import json
import os
import signal
import socket
import sys
from pathlib import Path

LOCK_FILE = ".lock"


class FolderHeldError(RuntimeError):
    pass


@contextlib.contextmanager
def hold_folder(folder, command=None):
    """Hold `folder` (created if needed) until the block ends, for `command` (the holder's name in the refusal;
    default: this script's); FolderHeldError when a live process holds it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    fd = _lock(path, folder)
    previous = _holder(fd)
    if previous:
        print(f"{folder}: taking it over from {previous}, which ended without letting go")
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "command": command or Path(sys.argv[0]).name}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(holder).encode(), 0)
    try:
        yield folder
    finally:
        path.unlink(missing_ok=True)  # before the lock goes: a run waiting on this file sees it gone and retries
        os.close(fd)


def _lock(path, folder):
    """An open descriptor of `path` with the lock held; the file may be removed by a holder ending meanwhile,
    so the lock counts only on the file still at `path`."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in (errno.EACCES, errno.EAGAIN):  # a file system without record locks
                print(f"{folder}: cannot be locked ({err.strerror}): nothing keeps a second run from writing it")
                return fd
            holder = _holder(fd) or "another process"
            os.close(fd)
            raise FolderHeldError(
                f"{folder} is being written by {holder}; wait for it to end, or pick another folder"
            ) from None
        with contextlib.suppress(FileNotFoundError):
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        os.close(fd)


def _holder(fd):
    """'process <pid> on <host> (<command>)' as the lock file names it, or None when it is empty."""
    try:
        record = json.loads(os.pread(fd, 4096, 0) or b"null")
        return f"process {record['pid']} on {record['host']} ({record['command']})"
    except (ValueError, TypeError, KeyError):
        return None


def die_with_parent(parent_pid):
    """For a worker process: be killed when the parent `parent_pid` dies (Linux's PR_SET_PDEATHSIG), so that
    killing the parent alone, as an out-of-memory kill does, leaves no worker writing into its folder."""
    with contextlib.suppress(OSError, AttributeError):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before the line above
        os._exit(1)
