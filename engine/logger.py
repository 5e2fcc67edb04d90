"""Run logging on rank 0: tensorboardX scalars, one JSON line per epoch in log.txt, tqdm bars on a terminal."""

import json
import sys
from pathlib import Path

from tqdm import tqdm

from system.files import write_atomic

from .distributed import is_main_process


class RunLogger:
    def __init__(self, output_dir, log_dir=None):
        self.enabled = is_main_process() and output_dir is not None
        self.output_dir = Path(output_dir) if output_dir else None
        self.writer = None
        if self.enabled:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            if log_dir:
                from tensorboardX import SummaryWriter

                self.writer = SummaryWriter(logdir=str(log_dir))

    def scalars(self, step, prefix, values):
        if self.writer is not None:
            for name, value in values.items():
                self.writer.add_scalar(f"{prefix}/{name}", value, step)

    def epoch(self, record):
        """Append one JSON line to log.txt."""
        if self.enabled:
            with open(self.output_dir / "log.txt", "a") as f:
                f.write(json.dumps(record) + "\n")

    def start_at(self, epoch):
        """Keep the log.txt lines of the epochs before `epoch`, the one a (resumed) run starts at: lines a killed
        run wrote after its last checkpoint, or cut short, go, so the epochs it repeats are logged once."""
        path = self.output_dir / "log.txt" if self.enabled else None
        if path is None or not path.exists():
            return
        kept = []
        for line in path.read_text().splitlines():
            try:
                logged = json.loads(line).get("epoch")
            except (json.JSONDecodeError, AttributeError):
                continue
            if isinstance(logged, int) and logged < epoch:
                kept.append(line + "\n")
        write_atomic(path, lambda tmp: tmp.write_text("".join(kept)))

    def progress(self, iterable, desc, total=None):
        """A tqdm bar on an interactive terminal of rank 0, else the plain iterable."""
        show = is_main_process() and sys.stderr.isatty()
        return tqdm(iterable, desc=desc, total=total, leave=False, dynamic_ncols=True) if show else iterable

    def close(self):
        if self.writer is not None:
            self.writer.close()
