"""Generated footage with several people, shot cuts and faces that come and go, with every face's true box.

Each person is a generated face clip (datasets/synthetic.py: its own identity and expression, running for the
whole video) pasted as a tile onto a canvas wherever the script puts it. A script is a list of shots; a shot
lasts `frames` frames and shows some persons, each at a tile position and size, on a canvas colour of its own.

    scene = compose([Shot(50, [Placement(0, 60, 100, 160), Placement(1, 380, 100, 160)])], seeds=(2, 10), labels=(0, 1))
    scene.frames  # (T, H, W, 3) uint8 RGB
    scene.boxes   # (T, P, 4) true face box [x1, y1, x2, y2] of every person, NaN where not on screen

As a command, one such video for the demo (two people side by side, or a film cutting between them):

    python -m datasets.scenes --kind cutting --labels happy sad --out two_people.mp4
"""

import argparse
from dataclasses import dataclass

import cv2
import numpy as np

from datasets.labels import DFEW_CLASSES
from datasets.synthetic import GENERATED, _identity, render_clip
from datasets.video_io import write_video


@dataclass
class Placement:
    person: int
    x: int  # tile's top-left corner on the canvas
    y: int
    size: int  # tile side in pixels


@dataclass
class Shot:
    frames: int
    placements: list[Placement]
    canvas: tuple[int, int, int] = (70, 80, 90)  # RGB


@dataclass
class Scene:
    frames: np.ndarray  # (T, H, W, 3) uint8 RGB
    boxes: np.ndarray  # (T, P, 4) float32 true face boxes, NaN where the person is off screen
    labels: tuple[int, ...]  # each person's class

    def visible(self) -> np.ndarray:
        """(T, P) bool: the person's face is on screen."""
        return ~np.isnan(self.boxes[..., 0])


def face_boxes(seed: int, num_frames: int, size: int) -> np.ndarray:
    """(T, 4) box of the skin ellipse of render_clip(seed, ...)'s face in each frame (its identity replayed)."""
    face = _identity(np.random.default_rng(seed), size)
    (sway, sway_speed, sway_phase), (roll, roll_speed, roll_phase) = face["sway"], face["roll"]
    t = np.arange(num_frames)[:, None]
    center = face["center"] + sway * np.sin(sway_speed * t + sway_phase)  # T, 2
    angle = np.radians(roll * np.sin(roll_speed * t[:, 0] + roll_phase))
    a, b = face["scale"], face["scale"] * face["elongation"]
    half = np.stack([np.hypot(a * np.cos(angle), b * np.sin(angle)), np.hypot(a * np.sin(angle), b * np.cos(angle))], 1)
    return np.concatenate([center - half, center + half], axis=1).astype(np.float32)


def compose(shots: list[Shot], seeds, labels, height: int = 360, width: int = 640, seed: int = 0) -> Scene:
    """Render the script: every person's clip at the largest tile size it is given, resized per placement."""
    num_frames, count = sum(s.frames for s in shots), len(seeds)
    sizes = [max([p.size for s in shots for p in s.placements if p.person == i], default=64) for i in range(count)]
    clips = [render_clip(sd, lb, num_frames, size) for sd, lb, size in zip(seeds, labels, sizes, strict=True)]
    truth = [face_boxes(sd, num_frames, size) for sd, size in zip(seeds, sizes, strict=True)]
    rng = np.random.default_rng(seed)
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    boxes = np.full((num_frames, count, 4), np.nan, np.float32)
    t = 0
    for shot in shots:
        for _ in range(shot.frames):
            frame = np.clip(np.array(shot.canvas, np.float32) + rng.normal(0, 3, (height, width, 3)), 0, 255)
            frames[t] = frame.astype(np.uint8)
            for p in shot.placements:
                tile, scale = clips[p.person][t], p.size / sizes[p.person]
                if p.size != sizes[p.person]:
                    tile = cv2.resize(tile, (p.size, p.size), interpolation=cv2.INTER_AREA)
                frames[t, p.y : p.y + p.size, p.x : p.x + p.size] = tile
                boxes[t, p.person] = truth[p.person][t] * scale + [p.x, p.y, p.x, p.y]
            t += 1
    return Scene(frames, boxes, tuple(labels))


def side_by_side(labels=(0, 1), seeds=(2, 10), seconds=4.0, fps=25) -> Scene:
    """Two people next to each other for the whole video."""
    placements = [Placement(0, 80, 100, 160), Placement(1, 400, 100, 160)]
    return compose([Shot(round(seconds * fps), placements)], seeds, labels)


def cutting(labels=(0, 1), seeds=(2, 10), shot_seconds=2.0, shots=4, fps=25) -> Scene:
    """A film cutting back and forth between two people, each in a shot of their own with its own framing and
    canvas: person 0 left of centre, person 1 right of it, as in a dialogue shot/reverse shot."""
    n = round(shot_seconds * fps)
    own = [Shot(n, [Placement(0, 120, 60, 220)], (60, 70, 90)), Shot(n, [Placement(1, 330, 80, 200)], (110, 90, 70))]
    return compose([own[k % 2] for k in range(shots)], seeds, labels)


def leaving(label=0, seed=2, seconds=4.0, away=(1.5, 2.0), fps=25) -> Scene:
    """One person who leaves the picture for a while (`away`, seconds from the start) and comes back."""
    here = [Placement(0, 240, 100, 160)]
    first, back = round(away[0] * fps), round(away[1] * fps)
    script = [Shot(first, here), Shot(back - first, []), Shot(round(seconds * fps) - back, here)]
    return compose(script, (seed,), (label,))


def box_holds_face(box: np.ndarray, truth: np.ndarray, min_covered: float = 0.8) -> np.ndarray:
    """Whether a crop box holds a face: at least `min_covered` of the true face box lies inside it, and the box is
    at most 3 times the face's side (not a wide shot around it). box (..., 4), truth (..., 4) -> (...) bool."""
    inter = np.prod(
        np.clip(np.minimum(box[..., 2:], truth[..., 2:]) - np.maximum(box[..., :2], truth[..., :2]), 0, None), -1
    )
    area = np.prod(truth[..., 2:] - truth[..., :2], -1)
    side, face_side = box[..., 2] - box[..., 0], np.max(truth[..., 2:] - truth[..., :2], -1)
    with np.errstate(invalid="ignore"):
        return (inter >= min_covered * area) & (side <= 3 * face_side)


KINDS = {"side_by_side": side_by_side, "cutting": cutting}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", default="side_by_side", choices=KINDS)
    parser.add_argument("--labels", nargs=2, default=["happy", "sad"], choices=DFEW_CLASSES, help="each person's class")
    parser.add_argument("--seeds", nargs=2, type=int, default=[8, 11], help="each person's identity")
    parser.add_argument("--out", required=True, help="the .mp4 to write")
    args = parser.parse_args()
    labels = tuple(DFEW_CLASSES.index(name) for name in args.labels)
    scene = KINDS[args.kind](labels=labels, seeds=tuple(args.seeds))
    write_video(args.out, scene.frames, fps=25, comment=GENERATED)
    print(f"{args.out}: {len(scene.frames)} frames, {args.kind}, persons {' and '.join(args.labels)}")


if __name__ == "__main__":
    main()
