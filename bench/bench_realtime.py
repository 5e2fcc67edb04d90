"""Is the demo faster than real time? Seconds per stage and video-seconds per wall-second, one and two people.

    .venv/bin/python -m bench.bench_realtime [--seconds 20] [--persons 1 2] [--repeats 1]
        [--model lgi_former_base_patch16_160] [--checkpoint ckpt.pth]
        [--config "fp32=--precision fp32" --config "auto (default)="]

Writes 480p (854 x 480) 25 fps H.264 videos of generated talking faces (datasets/scenes.py: one person, and two
side by side, faces about 200 pixels high), saves a randomly initialised checkpoint of `--model` unless
`--checkpoint` is given (the fine-tuned base model of bench/make_base_model.sh: its windows say what each
precision does to real decisions), and runs `demo.main` on each video once per config, exactly as `python demo.py
video.mp4 <flags>` would (so the annotated video is written), the configs interleaved; an int8 model is built into
the cache before the timed runs. Each config is a name and demo.py
flags; the first is the reference. Stages are timed by wrapping the functions the demo calls: decoding (PyAV and
the downscale), shot cuts, detection (the detector's `detect`), tracking (appearance descriptors, tracklets and
identities), cropping (face crops of the windows), model (the forward passes, with normalisation and softmax),
annotated video (drawing and encoding); "other" is the rest (loading the checkpoint, the plot, the reports, the
loops). Where stages overlap (threads), their sum exceeds the total. Each config's windows are compared with the
reference's (same person, same start frame): top-1 agreement and the largest probability difference.
"""

import argparse
import contextlib
import json
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from unittest import mock

import numpy as np
import torch

import demo
from bench.bench_demo import random_checkpoint
from bench.common import markdown_table, timed
from datasets.scenes import Placement, Shot, compose
from datasets.synthetic import GENERATED
from datasets.video_io import write_video
from inference import frames, persons, recognizer, report, shots, windows
from inference.model_cache import cached_int8_onnx
from system.memory import keep_freed_memory

FPS, HEIGHT, WIDTH, FACE_TILE = 25, 480, 854, 240
LAYOUTS = {  # persons on screen -> tile positions (the face fills about 0.8 of its tile)
    1: [Placement(0, 307, 110, FACE_TILE)],
    2: [Placement(0, 110, 110, FACE_TILE), Placement(1, 504, 110, FACE_TILE)],
}
SEEDS, LABELS = (40, 54), (3, 3)  # identities MTCNN finds in almost every frame at 480p, both happy
STAGES = {  # (owner, attribute): stage; generators are timed per item
    (frames, "stream_frames"): "decoding",
    (frames, "downscale"): "decoding",
    (shots.ShotCuts, "update"): "shot cuts",
    (persons, "appearance"): "tracking",
    (recognizer, "track_persons"): "tracking",
    (windows, "crop_faces"): "cropping",
    (windows, "clip_tensor"): "cropping",
    (recognizer.Recognizer, "probabilities"): "model",
    (report.AnnotatedVideo, "write"): "annotated video",
    (report.AnnotatedVideo, "__exit__"): "annotated video",
}
DEFAULT_CONFIGS = ["fp32=--precision fp32", "auto (default)=", "int8=--precision int8", "auto, no video=--no_video"]
COLUMNS = ("decoding", "shot cuts", "detection", "tracking", "cropping", "model", "annotated video", "other")


def talking_video(path, num_persons, seconds):
    """A 480p 25 fps video of `num_persons` generated talking faces side by side, marked as generated."""
    shot = Shot(round(seconds * FPS), LAYOUTS[num_persons])
    scene = compose([shot], SEEDS[:num_persons], LABELS[:num_persons], height=HEIGHT, width=WIDTH)
    write_video(path, scene.frames, fps=FPS, comment=GENERATED)
    return path


def timed_detector(seconds, build):
    """build_detector whose detectors' `detect` is timed as "detection"."""

    def build_timed(*args, **kwargs):
        detector = build(*args, **kwargs)
        detector.detect = timed(seconds, "detection", detector.detect)
        return detector

    return build_timed


def run_demo(video, flags, output):
    """One demo.main run -> ({stage: seconds, "total": wall seconds}, predictions dict)."""
    seconds = defaultdict(float)
    patches = [mock.patch.object(owner, name, timed(seconds, stage, getattr(owner, name)))
               for (owner, name), stage in STAGES.items()]  # fmt: skip
    patches.append(mock.patch.object(recognizer, "build_detector", timed_detector(seconds, recognizer.build_detector)))
    args = demo.get_args([str(video), "--output", str(output), *flags])
    with contextlib.ExitStack() as stack:
        for patch in patches:
            stack.enter_context(patch)
        start = time.perf_counter()
        predictions = demo.main(args)
        total = time.perf_counter() - start
    seconds["other"] = total - sum(seconds[c] for c in COLUMNS if c != "other")
    seconds["total"] = total
    return seconds, predictions


def window_probs(predictions):
    """{(person, start frame): probabilities} of every classified window."""
    classes = predictions["classes"]
    return {
        (person["person"], row["start_frame"]): np.array([row["probs"][c] for c in classes])
        for person in predictions["persons"]
        for row in person["windows"]
        if row.get("probs")
    }


def agreement(windows, reference):
    """(top-1 agreement, max probability difference, windows compared) over the windows both classified."""
    common = sorted(set(windows) & set(reference))
    if not common:
        return float("nan"), float("nan"), 0
    same = [windows[k].argmax() == reference[k].argmax() for k in common]
    diff = max(float(np.abs(windows[k] - reference[k]).max()) for k in common)
    return float(np.mean(same)), diff, len(common)


def cpu_flags():
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    names = sorted({f for f in flags.split() if f.startswith(("avx512", "amx")) or f in ("avx2", "avx_vnni")})
    model = next((line.split(":", 1)[1].strip() for line in flags.splitlines() if line.startswith("model name")), "?")
    return f"{model}, {os.cpu_count()} cores, {' '.join(names)}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="video length")
    parser.add_argument("--persons", type=int, nargs="+", default=[1, 2], choices=sorted(LAYOUTS))
    parser.add_argument("--model", default="lgi_former_base_patch16_160", help="randomly initialised model")
    parser.add_argument("--checkpoint", default=None, help="a fine-tuned checkpoint instead of --model")
    parser.add_argument("--config", action="append", default=None, metavar="NAME=FLAGS",
                        help="a name and demo.py flags; repeat; the first is the reference")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=1, help="runs per config and video, the best counts")
    parser.add_argument("--out", default=None, help="folder for the videos and outputs (default: a temporary one)")
    args = parser.parse_args(argv)
    configs = [c.split("=", 1) for c in (args.config or DEFAULT_CONFIGS)]
    keep_freed_memory()
    load = os.getloadavg()[0]

    with contextlib.ExitStack() as stack:
        out = Path(args.out or stack.enter_context(tempfile.TemporaryDirectory()))
        out.mkdir(parents=True, exist_ok=True)
        checkpoint = args.checkpoint or random_checkpoint(out / f"{args.model}.pth", args.model)
        if any("int8" in flags for _, flags in configs):
            cached_int8_onnx(checkpoint)  # built before the timed runs, as a second run finds it
        rows, details = [], {}
        for num_persons in args.persons:
            video = talking_video(out / f"talking_{num_persons}.mp4", num_persons, args.seconds)
            runs = defaultdict(list)
            for _ in range(args.repeats):
                for name, flags in configs:
                    flags = ["--checkpoint", str(checkpoint), "--device", "cpu", *flags.split()]
                    runs[name].append(run_demo(video, flags, out / f"out_{num_persons}_{name}"))
                    print(f"{num_persons} person(s), {name}: {runs[name][-1][0]['total']:.1f} s", flush=True)
            reference = window_probs(runs[configs[0][0]][0][1])
            for name, _ in configs:
                best, predictions = min(runs[name], key=lambda run: run[0]["total"])
                duration = predictions["duration_s"]
                top1, diff, compared = agreement(window_probs(predictions), reference)
                found = [p["face_frames"] for p in predictions["persons"]]
                rows.append((
                    num_persons, name, *(f"{best[c]:.2f}" for c in COLUMNS), f"{best['total']:.2f}",
                    f"**{duration / best['total']:.2f}**", f"{100 * top1:.1f}% of {compared}", f"{diff:.4f}",
                    len(predictions["persons"]), "+".join(str(f["detected"] + f["bridged"]) for f in found),
                ))  # fmt: skip
                details[f"{num_persons}/{name}"] = best

    header = ("persons", "config", *(f"{c} s" for c in COLUMNS), "total s", "video s per s",
              f"top-1 agreement with {configs[0][0]}", "max prob diff", "persons found", "face frames")  # fmt: skip
    print(f"\n{args.seconds:g} s videos of {WIDTH}x{HEIGHT} at {FPS} fps; model "
          f"{Path(args.checkpoint).name if args.checkpoint else args.model + ' (random weights)'}; torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads; CPU: {cpu_flags()}; load average {load:.1f} "
          f"before, {os.getloadavg()[0]:.1f} after")  # fmt: skip
    for name, flags in configs:
        print(f"- {name}: demo.py {flags or '(defaults)'}")
    print(markdown_table(header, rows))
    if args.out:
        (out / "stages.json").write_text(json.dumps(details, indent=1))


if __name__ == "__main__":
    main()
