"""Emotion timelines of every person in many videos, as one table: a folder (recursively) or a list of videos.

    python batch.py my_videos/ --output results/                       # the model in checkpoint/ (as demo.py)
    python batch.py videos.txt --output results/ --checkpoint dfew_fold1.pth --labels dfew --csv
    torchrun --nproc_per_node 2 batch.py my_videos/ --output results/  # sharded over processes (and nodes)

Writes results/windows.parquet (one row per video, person and window), persons.parquet (one per video and
person), videos.parquet (one per video: status, duration, persons, labels, face coverage), failures.csv (the
files that could not be read, and why; the run goes on), and with --csv the tables as CSV too. A rerun
skips the videos already done, so a killed run resumes where it stopped (inference/batch.py); a second run into
an --output a live run holds is refused (system.lock). The options of demo.py apply to every video.
"""

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

from inference.batch import analyse, list_videos, merge, read_records, record_name, shard, write_record
from inference.frames import FrameSource
from inference.options import add_recognizer_arguments, recognizer_from_args
from models import CheckpointError
from system.lock import FolderHeldError, hold_folder


def get_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="a folder of videos (searched recursively) or a text file with one path per line")
    p.add_argument("--output", required=True, help="results folder (records/ inside it makes reruns resume)")
    p.add_argument("--csv", action="store_true", help="write the tables as CSV as well as Parquet")
    add_recognizer_arguments(p)
    return p.parse_args(argv)


class Progress:
    """Videos done and video-hours done of this process's share, with the time left at the pace so far: a bar
    on a terminal, a line per video in a file."""

    def __init__(self, durations, prefix):
        self.total_s, self.count, self.prefix = sum(durations), len(durations), prefix
        self.done, self.done_s, self.start = 0, 0.0, time.perf_counter()
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=round(self.total_s), unit="video-s", desc=f"{prefix}videos", file=sys.stderr)

    def update(self, video, seconds, record):
        self.done, self.done_s = self.done + 1, self.done_s + seconds
        if self.bar is not None:
            self.bar.update(round(self.done_s) - self.bar.n)
            self.bar.set_postfix(videos=f"{self.done}/{self.count}", refresh=False)
            return
        elapsed = time.perf_counter() - self.start
        left = elapsed * (self.total_s - self.done_s) / self.done_s if self.done_s else float("nan")
        what = f"{len(record['persons'])} persons" if record["status"] == "done" else f"failed ({record['error']})"
        print(f"{self.prefix}[{self.done}/{self.count}] {video}: {what}; {self.done_s / 3600:.3f} of "
              f"{self.total_s / 3600:.3f} video-h done, about {left / 60:.1f} min left", flush=True)  # fmt: skip

    def close(self):
        if self.bar is not None:
            self.bar.close()


def duration_s(root, video):
    """Seconds of video its header announces (0 when unknown): for the progress, before any decoding."""
    source = FrameSource(root / video)
    try:
        return (source.expected_frames or 0) / source.fps
    except Exception:  # an unreadable file: its failure is recorded when its turn comes
        return 0.0


def main(args):
    root, videos = list_videos(args.source)
    if not videos:
        raise ValueError(f"{args.source}: no videos found")
    rank, world_size = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    prefix = f"rank {rank}: " if world_size > 1 else ""
    output = Path(args.output)
    records = output / "records"
    records.mkdir(parents=True, exist_ok=True)
    todo = [v for v in shard(videos, rank, world_size) if not (records / record_name(v)).exists()]
    print(f"{prefix}{len(videos)} videos in {args.source}; {len(todo)} to analyse in this process")
    recognizer = recognizer_from_args(args)
    durations = [duration_s(root, v) for v in todo]
    progress, cpu_s, video_s, failed = Progress(durations, prefix), 0.0, 0.0, 0
    try:
        for video, seconds in zip(todo, durations, strict=True):
            outcome = analyse(recognizer, root, video)
            write_record(records, outcome.record)
            cpu_s, failed = cpu_s + outcome.cpu_s, failed + (outcome.record["status"] == "failed")
            video_s += outcome.record.get("duration_s") or 0.0
            progress.update(video, outcome.record.get("duration_s") or seconds, outcome.record)
    finally:
        progress.close()
    if todo:
        rate = f"{video_s / cpu_s:.2f} video-hours per CPU-hour" if cpu_s else "no CPU time"
        print(f"{prefix}analysed {len(todo)} videos ({failed} failed), {video_s / 3600:.3f} video-hours: {rate}")
    done = read_records(records, videos)
    if len(done) < len(videos):
        print(f"{prefix}{len(videos) - len(done)} videos are still with other processes; the last one merges")
        return None
    frames = merge(output, done, args.csv)
    failures = int((frames["videos"]["status"] == "failed").sum())
    print(f"{prefix}wrote {output}/: {len(frames['windows'])} windows of {len(frames['persons'])} persons in "
          f"{len(videos)} videos ({failures} failed: {output / 'failures.csv'})")  # fmt: skip
    return frames


if __name__ == "__main__":
    arguments = get_args()
    holder = os.environ.get("RANK", "0") == "0"  # one run writes --output at a time; its rank 0 holds it
    try:
        with hold_folder(arguments.output) if holder else contextlib.nullcontext():
            main(arguments)
    except (CheckpointError, FolderHeldError, ValueError) as err:
        sys.exit(f"error: {err}")
