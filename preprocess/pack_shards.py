"""Pack an annotation list into LitData shards of JPEG frames (datasets.shards), in parallel and resumable.

    python -m preprocess.pack_shards --data_path saved/data/voxceleb2/info_clean.csv --data_root <VoxCeleb2> \
        --out saved/data/voxceleb2/shards --voxceleb2_crop --workers 8

The list is cut into parts of --clips_per_part clips, in its order; each part is packed by one process into its
own chunk files (chunk-<part>-<k>.bin), then marked done by parts/<part>.json (written last, atomically). A rerun
of the same command (after kill -9, say) skips the parts marked done and redoes the others from scratch, so the
shards are the same bytes however often the packing was interrupted and whatever the number of --workers;
index.json, written once every part is done, lists the chunks in part order. Every frame of a clip is kept (every
frame offset a sampler draws stays available), cut to VoxCeleb2's face square (--voxceleb2_crop) and/or resized
(--short_side); docs/data_pipeline.md says what this changes. A clip that cannot be read is logged, left out and
counted (<out>/unreadable.txt). One pack at a time writes a folder: a second one into a folder a live pack holds is
refused, naming the holder (system.lock); the packing workers end with the packing process, so a pack whose parent
alone was killed (an out-of-memory kill) leaves nothing writing, and its rerun finishes.
"""

import argparse
import contextlib
import hashlib
import json
import os
import queue
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from datasets.annotations import AnnotationError, read_annotations
from datasets.shards import INDEX_FILE, encode_frames
from datasets.transforms import resize_short_side
from datasets.video_io import VideoReadError, stream_frames
from system.files import leftovers, remove, write_atomic
from system.lock import FolderHeldError, die_with_parent, hold_folder

RECIPE_FILE = "pack.json"
UNREADABLE_FILE = "unreadable.txt"


def get_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data_path", required=True, help="annotation file (the formats datasets.annotations reads)")
    p.add_argument("--data_root", default=None, help="resolve relative clip paths here (default: its folder)")
    p.add_argument("--out", required=True, help="output folder: chunks, index.json, parts/, pack.json")
    p.add_argument("--voxceleb2_crop", action="store_true", help="keep the top-centre input_size square only")
    p.add_argument("--input_size", type=int, default=160, help="the square --voxceleb2_crop keeps")
    p.add_argument("--short_side", type=int, default=0, help="resize frames to this short side (0: keep)")
    p.add_argument("--quality", type=int, default=95, help="JPEG quality")
    p.add_argument("--clips_per_part", type=int, default=1000, help="clips per resumable unit of work")
    p.add_argument("--chunk_bytes", default="64MB", help="LitData chunk size")
    p.add_argument("--workers", type=int, default=1, help="packing processes")
    return p.parse_args(argv)


def prepare_frames(frames, voxceleb2_crop, input_size, short_side):
    """(L, H, W, 3) as read -> as stored: the VoxCeleb2 face square (PretrainTransform's cut), then the resize."""
    if voxceleb2_crop:
        left = (frames.shape[2] - input_size) // 2
        frames = frames[:, :input_size, left : left + input_size]
    if short_side:
        frames = resize_short_side(frames, short_side)
    return np.ascontiguousarray(frames)


def pack_part(job):
    """Pack clips [first, first + n) into chunk-<part>-*.bin in `out`, then write parts/<part>.json."""
    from litdata.streaming.writer import BinaryWriter

    out, part, first, clips, options = job
    tmp = out / f".part-{part:05d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    os.environ["DATA_OPTIMIZER_GLOBAL_RANK"] = str(part)  # names the chunk files chunk-<part>-<k>.bin
    writer = BinaryWriter(str(tmp), chunk_bytes=options["chunk_bytes"], msg_queue=queue.Queue())
    unreadable, written = [], 0
    for offset, (path, stored_path, label) in enumerate(clips):
        try:
            frames = np.stack(list(stream_frames(path)))  # (L, H, W, 3)
        except VideoReadError as err:
            print(f"unreadable, left out: {err}", flush=True)
            unreadable.append(str(err))
            continue
        frames = prepare_frames(frames, options["voxceleb2_crop"], options["input_size"], options["short_side"])
        sizes, blob = encode_frames(frames, options["quality"])
        sample = {"index": first + offset, "path": stored_path, "label": label, "frame_sizes": sizes, "frames": blob}
        writer[written] = sample
        written += 1
    writer.done()
    index = {"chunks": [], "config": None}
    if written:
        index = json.loads((tmp / f"{part}.{INDEX_FILE}").read_text())
        for chunk in index["chunks"]:
            os.replace(tmp / chunk["filename"], out / chunk["filename"])
    record = {"part": part, "clips": written, "unreadable": unreadable, **index}
    write_json_atomic(out / "parts" / f"{part:05d}.json", record)
    shutil.rmtree(tmp, ignore_errors=True)
    return part, written, len(unreadable)


def write_json_atomic(path, obj):
    write_atomic(path, lambda tmp: tmp.write_text(json.dumps(obj, sort_keys=True)))


def check_recipe(out, recipe):
    """pack.json of a packing already begun in `out` must match this one: parts are only resumable as they were."""
    path = out / RECIPE_FILE
    if path.exists():
        if json.loads(path.read_text()) != recipe:
            raise ValueError(f"{path}: {out} holds a packing with other settings or another list; pick a new --out")
    else:
        write_json_atomic(path, recipe)


def merge(out, num_parts):
    """index.json over every part's chunks, in part order; the unreadable clips in unreadable.txt."""
    chunks, config, unreadable = [], None, []
    for part in range(num_parts):
        record = json.loads((out / "parts" / f"{part:05d}.json").read_text())
        chunks += record["chunks"]
        config = config or record["config"]
        unreadable += record["unreadable"]
    if not chunks:
        raise ValueError(f"{out}: no clip could be read, nothing packed (see {UNREADABLE_FILE})")
    (out / UNREADABLE_FILE).write_text("".join(line + "\n" for line in unreadable))
    write_json_atomic(out / INDEX_FILE, {"chunks": chunks, "config": config})
    return sum(c["chunk_size"] for c in chunks), len(unreadable)


def pack(args):
    samples = read_annotations(args.data_path, args.data_root, None)
    base = Path(args.data_root or Path(args.data_path).resolve().parent)
    clips = [(s.path, os.path.relpath(s.path, base), s.label) for s in samples]
    options = {k: getattr(args, k) for k in ("voxceleb2_crop", "input_size", "short_side", "quality", "chunk_bytes")}
    listed = hashlib.sha256(json.dumps([c[1:] for c in clips]).encode()).hexdigest()
    recipe = {"data_path": str(Path(args.data_path).resolve()), "clips_sha256": listed,
              "clips_per_part": args.clips_per_part, **options}  # fmt: skip
    out = Path(args.out)
    (out / "parts").mkdir(parents=True, exist_ok=True)
    with hold_folder(out):
        return pack_parts(out, recipe, clips, options, args.workers)


def pack_parts(out, recipe, clips, options, workers):
    """Pack the parts not marked done, in `workers` processes that die with this one, then merge."""
    check_recipe(out, recipe)
    for tmp in leftovers(out) + leftovers(out / "parts"):  # writes a killed pack left unfinished
        remove(tmp)
    step = recipe["clips_per_part"]
    num_parts = (len(clips) + step - 1) // step
    jobs = [
        (out, part, part * step, clips[part * step : (part + 1) * step], options)
        for part in range(num_parts)
        if not (out / "parts" / f"{part:05d}.json").exists()
    ]
    print(f"packing {len(clips)} clips in {num_parts} parts ({num_parts - len(jobs)} done before) into {out}")
    workers = min(workers, len(jobs))
    pool = ProcessPoolExecutor(workers, initializer=die_with_parent, initargs=(os.getpid(),)) if workers > 1 else None
    with pool or contextlib.nullcontext():
        for part, written, failed in (pool.map if pool else map)(pack_part, jobs):
            print(f"part {part}: {written} clips, {failed} unreadable", flush=True)
    packed, failed = merge(out, num_parts)
    print(f"packed {packed} clips into {out}; {failed} unreadable, left out (listed in {out / UNREADABLE_FILE})")
    return packed, failed


if __name__ == "__main__":
    arguments = get_args()
    try:
        pack(arguments)
    except (AnnotationError, FolderHeldError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
