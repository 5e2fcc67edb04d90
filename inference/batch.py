"""Many videos, one results table: the recognizer over a folder or a list of videos, resumable and sharded.

Every video gets a record, written atomically when it is done (`records/<name>-<hash>.json` under the output
folder): its windows, persons and summary, or why it could not be read. A rerun skips the videos that have a
record, so a run killed at any moment loses at most the videos in flight. Under torchrun (RANK, WORLD_SIZE)
process r takes videos r, r + W, r + 2W, ... of the sorted list: each video exactly once, on any number of
processes and nodes
sharing the output folder; no process waits for another. The process that finds every record present merges
them into the tables, sorted by video, person and window, so the tables are the same whatever the number of
processes:

    windows.parquet   one row per video, person and window: times, label, face box, one column per class
    persons.parquet   one row per video and person: overall label and probabilities, first and last second
    videos.parquet    one row per video: status, duration, persons, labels, face coverage, the error if any
    failures.csv      the videos that could not be read, and why
"""

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from inference.report import BOX
from preprocess.common import VIDEO_EXTS
from system.files import write_atomic

TABLES = ("windows", "persons", "videos")


def list_videos(source):
    """A folder (searched recursively for video files) or a text file with one path per line (relative to the
    file's folder unless absolute; blank lines and '#' comments skipped) -> (root, sorted relative paths)."""
    source = Path(source)
    if source.is_dir():
        found = [p.relative_to(source).as_posix() for p in source.rglob("*") if p.suffix.lower() in VIDEO_EXTS]
        return source, sorted(found)
    if not source.is_file():
        raise ValueError(f"{source}: no such folder or list file")
    lines = [line.strip() for line in source.read_text().splitlines()]
    return source.parent, sorted({line for line in lines if line and not line.startswith("#")})


def record_name(video):
    """A file name for a video's record: readable, and unique through a hash of its relative path."""
    stem = Path(video).stem[:60].replace(" ", "_")
    return f"{stem}-{hashlib.sha1(video.encode()).hexdigest()[:12]}.json"


def shard(videos, rank, world_size):
    return videos[rank::world_size]


@dataclass
class Outcome:
    record: dict
    cpu_s: float


def analyse(recognizer, root, video):
    """One video -> its record (status 'done' or 'failed' with the reason), never an exception for a bad file."""
    start, cpu = time.perf_counter(), time.process_time()
    path = Path(video) if Path(video).is_absolute() else root / video
    try:
        result = recognizer(path)
    except Exception as err:  # a file that cannot be read must not stop an archive's run
        reason = str(err).replace(str(path), "").strip(": ") or type(err).__name__
        record = {"video": video, "status": "failed", "error": f"{type(err).__name__}: {reason}"}
        return Outcome(record, time.process_time() - cpu)
    report = result.to_dict()
    record = {
        "video": video,
        "status": "done",
        "error": None,
        "processing_s": round(time.perf_counter() - start, 3),
        **{k: report[k] for k in ("fps", "num_frames", "duration_s", "classes", "persons", "decoding_stopped")},
        "face_coverage": round(float(frames_with_a_face(result) / max(result.num_frames, 1)), 4),
    }
    return Outcome(record, time.process_time() - cpu)


def frames_with_a_face(result):
    """Frames where at least one person's face is."""
    return int(np.logical_or.reduce([p.track.found for p in result.persons]).sum()) if result.persons else 0


def write_record(folder, record):
    """Atomically: a record is either whole or absent."""
    write_atomic(folder / record_name(record["video"]), lambda tmp: tmp.write_text(json.dumps(record)))


def read_records(folder, videos):
    """The records of `videos` that exist, as {video: record}."""
    records = {}
    for video in videos:
        path = folder / record_name(video)
        if path.exists():
            records[video] = json.loads(path.read_text())
    return records


def tables(records):
    """{name: DataFrame} of the module docstring from the records, sorted by video, person and window."""
    windows, persons, videos = [], [], []
    for video in sorted(records):
        record = records[video]
        labels = []
        for person in record.get("persons", []):
            overall = person["overall"]
            labels.append(f"{person['person']}:{overall['label'] if overall else 'no face'}")
            persons.append({
                "video": video, "person": person["person"], "label": overall["label"] if overall else None,
                "first_s": person["first_s"], "last_s": person["last_s"],
                "face_frames": person["face_frames"]["detected"] + person["face_frames"]["bridged"],
                **{f"p_{c}": overall["probs"][c] if overall else None for c in record["classes"]},
            })  # fmt: skip
            for w in person["windows"]:
                box = w["box"] or [None] * 4
                windows.append({
                    "video": video, "person": person["person"], "start_frame": w["start_frame"],
                    "end_frame": w["end_frame"], "start_s": w["start_s"], "end_s": w["end_s"], "label": w["label"],
                    **dict(zip(BOX, box, strict=True)),
                    **{f"p_{c}": w["probs"][c] if w["probs"] else None for c in record["classes"]},
                })  # fmt: skip
        videos.append({
            "video": video, "status": record["status"], "error": record["error"],
            "duration_s": record.get("duration_s"), "num_frames": record.get("num_frames"), "fps": record.get("fps"),
            "persons": len(record.get("persons", [])), "labels": " ".join(labels) or None,
            "face_coverage": record.get("face_coverage"), "decoding_stopped": record.get("decoding_stopped"),
        })  # fmt: skip
    return {"windows": pd.DataFrame(windows), "persons": pd.DataFrame(persons), "videos": pd.DataFrame(videos)}


def merge(output, records, csv=False):
    """Write the tables and failures.csv atomically; returns the tables."""
    frames = tables(records)
    for name, frame in frames.items():
        write_atomic(output / f"{name}.parquet", lambda tmp, frame=frame: frame.to_parquet(tmp, index=False))
        if csv:
            write_atomic(output / f"{name}.csv", lambda tmp, frame=frame: frame.to_csv(tmp, index=False))
    failed = frames["videos"].loc[frames["videos"]["status"] == "failed", ["video", "error"]]
    write_atomic(output / "failures.csv", lambda tmp: failed.to_csv(tmp, index=False))
    return frames
