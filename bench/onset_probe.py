"""Does a pretrained encoder tell an expression's onset from the resting face? A frozen-feature linear probe.

    python -m bench.onset_probe appearance=A0.pth appearance=A1.pth appearance_motion=M0.pth \
        appearance_motion=M1.pth

Generates faces that rest for the first half of each video and then show their class in bursts
(`datasets.synthetic --onset 0.5`, seed 2: identities no pretraining saw), cuts every video at the onset into a
resting clip (label 0) and an expressive one (label 1), and keeps fold 1's train / val / test assignment, so
that no identity is on both sides. Neutral faces are left out: their expression is their resting face. Each
resting face already holds an expression of its own (resting controls vary as much as the expressions), so a
single frame says little: what tells the halves apart is how the face moves. For every checkpoint,
`extract_features.py` then `run_probe.py --probe linear` (its C chosen on val); reported: test UAR of the
two-way probe on pooled features, mean +- std over the checkpoints given the same name (seeds). Writes
<out>/onset_probe.md; a checkpoint already probed (the same bytes) is not probed again.
"""

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from bench.label_efficiency import run
from datasets.annotations import read_annotations, write_annotations
from datasets.labels import DFEW_CLASSES
from datasets.video_io import open_video, write_video
from inference.model_cache import checkpoint_key

ONSET = 0.5


def onset_split(out, num_clips, num_frames):
    """<out>/split/{train,val,test}.csv: every generated video cut at its onset into rest (0) and expression (1)."""
    data = out / "data"
    command = ["-m", "datasets.synthetic", "--out", str(data), "--size", "64", "--num_clips", str(num_clips)]
    command += ["--num_pretrain", "0", "--num_frames", str(num_frames), "--onset", str(ONSET), "--seed", "2"]
    run(command + ["--reuse"], out / "generate.log")
    split = out / "split"
    for name in ("train", "val", "test"):
        rows = []
        for sample in read_annotations(data / "mp4" / "split01" / f"{name}.csv"):
            if DFEW_CLASSES[sample.label] == "neutral":
                continue
            video = open_video(sample.path)
            frames = video.read(list(range(len(video))))
            onset = round(ONSET * len(frames))  # as datasets.synthetic places it
            for label, part in enumerate((frames[:onset], frames[onset:])):
                path = split / "clips" / f"{Path(sample.path).stem}_{('rest', 'expression')[label]}.mp4"
                if not path.exists():
                    path.parent.mkdir(parents=True, exist_ok=True)
                    write_video(path, part)
                rows.append((str(path), label))
        write_annotations(split / f"{name}.csv", rows)
    return split


def probe(split, checkpoint, out):
    """Test UAR (%) of the linear probe on the checkpoint's pooled features."""
    results = out / "probe" / "results.json"
    if not results.exists():
        features = out / "features"
        command = ["extract_features.py", str(checkpoint), "--data_path", str(split), "--output_dir", str(features)]
        run(command + ["--device", "cpu", "--num_workers", "1", "--pin_mem", "false"], out / "features.log")
        command = ["run_probe.py", str(features), "--output_dir", str(out / "probe"), "--probe", "linear"]
        run(command + ["--variant", "pooled", "--nb_classes", "2"], out / "probe.log")
    records = json.loads(results.read_text())
    (record,) = records["linear_pooled"].values()
    return record["uar"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="+", help="NAME=CHECKPOINT; the same name for seeds of one start")
    p.add_argument("--out", type=Path, default=Path("saved/bench/onset_probe"))
    p.add_argument("--num_clips", type=int, default=700, help="generated videos (fold 1: 3/5 train)")
    p.add_argument("--num_frames", type=int, default=64, help="mean video length; each half is about 32 frames")
    args = p.parse_args(argv)
    split = onset_split(args.out, args.num_clips, args.num_frames)
    uars = defaultdict(list)
    for pair in args.checkpoints:
        name, sep, checkpoint = pair.partition("=")
        if not sep or not Path(checkpoint).is_file():
            raise SystemExit(f"error: {pair}: expected NAME=CHECKPOINT with an existing checkpoint file")
        key = checkpoint_key(checkpoint)  # a run is reused only for the same weights
        uars[name].append(probe(split, checkpoint, args.out / "runs" / f"{name}_{key[:10]}"))
        print(f"{checkpoint}: test UAR {uars[name][-1]:.1f}", flush=True)
    tests = len(read_annotations(split / "test.csv"))
    lines = [f"Rest vs expression, linear probe on frozen pooled features, test UAR (%) on {tests} clips:", ""]
    lines += ["| start | test UAR | runs |", "|---|---|---|"]
    lines += [f"| {name} | {np.mean(u):.1f} +- {np.std(u):.1f} | {len(u)} |" for name, u in uars.items()]
    report = "\n".join(lines)
    (args.out / "onset_probe.md").write_text(report + "\n")
    print(report)


if __name__ == "__main__":
    main()
