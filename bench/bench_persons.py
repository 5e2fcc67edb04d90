"""Every person in a video, measured against the truth: is every box the model sees on a face, is every face
seen, does each person keep one ID within shots and across cuts?

    .venv/bin/python -m bench.bench_persons [--pairs 8] [--detector auto] [--detect_every 1]

Runs the recognizer (a randomly initialised tiny model: what is measured here is where the crops come from, not
the labels) on generated footage with known face boxes (datasets/scenes.py), for `--pairs` pairs of identities:
two people side by side, a film cutting between two people every 2 s, one person leaving for 0.5 s. Reports

- precision: of the frames fed to the model (every input frame of every classified window of every person),
  the fraction whose crop box holds a face (datasets.scenes.box_holds_face), and holds that person's own face;
- recall: of the (frame, identity) pairs with a face on screen, the fraction inside a classified window of the
  person that identity maps to (the person whose boxes hold it most often);
- IDs: persons found per video against people in it, and of the (shot, identity) pairs where that face was
  found, the fraction whose boxes all belong to the one person that identity got in the first shot it was
  found in (one ID within the shot, the same across cuts).
"""

import argparse
import time

import numpy as np
import torch

from bench.common import markdown_table
from datasets import scenes
from inference import Recognizer
from models import create_model
from preprocess.face_detect import build_detector

CLASSES = ("happy", "sad", "neutral", "angry", "surprise", "disgust", "fear")


def random_recognizer(detector="haar", **options):
    """The tiny LGI-Former, randomly initialised, with the demo's defaults otherwise."""
    torch.manual_seed(0)
    model = create_model("lgi_former_tiny_patch16_160", depth=1).eval()
    return Recognizer(model, CLASSES, stride=4, detector=detector, **options)


def owner_of_boxes(result, scene):
    """{person id: identity} by majority over the person's frames with a box (the identity whose face it holds)."""
    owners = {}
    for person in result.persons:
        votes = np.zeros(scene.boxes.shape[1], int)
        for t in np.flatnonzero(person.track.found):
            votes += scenes.box_holds_face(person.track.boxes[t][None], scene.boxes[t]).astype(int)
        owners[person.id] = int(votes.argmax()) if votes.any() else -1
    return owners


def evaluate(result, scene):
    """Counts of a Recognition against a Scene's true boxes (see the module docstring)."""
    owners = owner_of_boxes(result, scene)
    fed = on_face = on_own = 0
    covered = np.zeros(scene.boxes.shape[:2], bool)  # T, P
    for person in result.persons:
        for w in person.windows:
            if w.probs is None:
                continue
            holds = scenes.box_holds_face(w.boxes[:, None], scene.boxes[w.frames])  # clip_len, P
            fed += len(w.frames)
            on_face += int(holds.any(axis=1).sum())
            on_own += int(holds[:, owners[person.id]].sum()) if owners[person.id] >= 0 else 0
            if owners[person.id] >= 0:
                covered[w.start : w.end + 1, owners[person.id]] = True
    visible = scene.visible()
    bounds = [*result.shot_starts, result.num_frames]
    shot_pairs = shot_right = 0
    first_person = {}
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        for identity in range(scene.boxes.shape[1]):
            frames = np.flatnonzero(visible[start:stop, identity]) + start
            if not len(frames):
                continue
            holders = {
                p.id
                for p in result.persons
                for t in frames
                if p.track.found[t] and scenes.box_holds_face(p.track.boxes[t], scene.boxes[t, identity])
            }
            if not holders:  # never detected in this shot: a miss (recall), not a wrong ID
                continue
            shot_pairs += 1
            first_person.setdefault(identity, holders)
            shot_right += len(holders) == 1 and holders == first_person[identity]
    return {
        "fed": fed,
        "on_face": on_face,
        "on_own": on_own,
        "visible": int(visible.sum()),
        "covered": int((covered & visible).sum()),
        "persons": len(result.persons),
        "people": scene.boxes.shape[1],
        "persons_right": int(len(result.persons) == scene.boxes.shape[1]),
        "shot_pairs": shot_pairs,
        "shot_right": shot_right,
    }


SCENES = {
    "side by side": lambda a, b: scenes.side_by_side(labels=(0, 1), seeds=(a, b)),
    "cutting every 2 s": lambda a, b: scenes.cutting(labels=(0, 1), seeds=(a, b)),
    "leaves for 0.5 s": lambda a, b: scenes.leaving(label=0, seed=a),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=8, help="pairs of identities (seeds 100 + 2k, 101 + 2k)")
    parser.add_argument("--detector", default="auto")
    parser.add_argument("--detect_every", type=int, default=1)
    args = parser.parse_args()
    recognizer = random_recognizer(build_detector(args.detector), detect_every=args.detect_every)
    rows, start = [], time.time()
    for name, make in SCENES.items():
        total = {}
        for k in range(args.pairs):
            scene = make(100 + 2 * k, 101 + 2 * k)
            counts = evaluate(recognizer(scene.frames, fps=25), scene)
            total = {key: total.get(key, 0) + value for key, value in counts.items()}
            print(f"{name}, seeds {100 + 2 * k}/{101 + 2 * k}: {counts}", flush=True)
        fed = max(total["fed"], 1)
        rows.append(
            (name, args.pairs, f"{total['on_face'] / fed:.4f}", f"{total['on_own'] / fed:.4f}",
             f"{total['covered'] / max(total['visible'], 1):.3f}", f"{total['persons_right']}/{args.pairs}",
             f"{total['shot_right']}/{total['shot_pairs']}")
        )  # fmt: skip
    header = (
        "footage",
        "videos",
        "precision (a face)",
        "precision (own face)",
        "recall",
        "persons = people",
        "shots right",
    )
    print(f"\ndetector {recognizer.detector.name}, detect_every {args.detect_every}, {time.time() - start:.0f} s")
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
