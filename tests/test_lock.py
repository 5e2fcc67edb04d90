"""One writer per output folder (system.lock): a live holder refuses the next one by name, a dead one is taken over,
and training refuses a folder held by another run in one line."""

import signal
import socket
import subprocess
import sys

import pytest
from test_resume import ENV, ROOT

from system.lock import LOCK_FILE, FolderHeldError, hold_folder

HOLD = "import sys, time; from system.lock import hold_folder\nwith hold_folder(sys.argv[1], 'holder'):\n" \
       "    print('held', flush=True); time.sleep(60)"  # fmt: skip


def holding(folder):
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], cwd=ROOT, env=ENV, stdout=subprocess.PIPE)
    assert process.stdout.readline() == b"held\n"
    return process


def test_a_live_holder_is_named_and_a_dead_one_is_taken_over(tmp_path, capsys):
    process = holding(tmp_path)
    with pytest.raises(FolderHeldError, match=f"being written by process {process.pid} on {socket.gethostname()}"):
        with hold_folder(tmp_path):
            pass
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stdout.close()
    with hold_folder(tmp_path, "again"):
        assert f"taking it over from process {process.pid}" in capsys.readouterr().out
    assert not (tmp_path / LOCK_FILE).exists()


def test_training_into_a_held_folder_is_refused_in_one_line(tmp_path):
    process = holding(tmp_path)
    cmd = [sys.executable, "run_pretraining.py", "--data_path", "missing.csv", "--output_dir", str(tmp_path)]
    done = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True)
    process.kill()
    process.wait()
    process.stdout.close()
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"error: {tmp_path} is being written by process {process.pid} on {socket.gethostname()} (holder); "
        "wait for it to end, or pick another folder"
    ]
