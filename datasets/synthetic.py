"""The embedded dataset: procedurally rendered face videos, deterministic from a seed.

Every clip is a face with its own identity (face shape and size, skin tone, hair, position, background,
lighting direction, sensor noise, head motion, blinking, speech-like mouth motion, a resting expression)
that shows one of the 7 DFEW expressions (happy, sad, neutral, angry, surprise, disgust, fear) coming and going
in bursts, as a laugh or a sob does, with a random period, phase and intensity. Expressions are built from seven
facial controls (brow raise, inner-brow raise, eye opening, mouth corners, mouth opening, mouth stretch, nose
wrinkle) added to the resting face. Because resting faces vary as much as the expressions, the class is clear
only from how the face moves; surprise/fear, angry/disgust and sad/neutral share most of their controls on
purpose.

    python -m datasets.synthetic --out saved/data/synthetic --num_clips 350 --num_pretrain 700 --seed 0

(`--onset 0.4` makes demo videos: each face rests for the first 40% of its clip, then the expression starts.)

writes
    frames/clip_00000/00001.jpg ...    labelled clips as frame folders (DFEW layout)
    videos/clip_00000.mp4              the same clips as H.264 mp4
    pretrain/clip_00000.mp4            the unlabelled pretraining pool
    split01..split05/{train,val,test}.csv       frame folders, 5 folds
    mp4/split01..split05/{train,val,test}.csv   the same folds over the mp4 files
    pretrain.csv                       the pool, label 0
    recipe.json                        the arguments and a hash of this file, written last; with --reuse a
                                       set whose recipe matches is kept instead of written again
Fold k tests on one fifth of the clips, validates on the next fifth and trains on the other three; every
fifth holds every class equally when num_clips is a multiple of 35.
"""

import argparse
import hashlib
import json
import math
import os
import time
from concurrent.futures import ProcessPoolExecutor

import cv2
import numpy as np

from datasets.annotations import write_annotations
from datasets.labels import DFEW_CLASSES
from datasets.video_io import write_video

CONTROLS = ("brow", "inner", "eye", "corner", "open", "stretch", "wrinkle")
# Apex of each control per class, DFEW order (happy, sad, neutral, angry, surprise, disgust, fear).
EXPRESSIONS = np.array(
    [
        # brow inner   eye  corner open stretch wrinkle
        [0.0, 0.0, -0.35, 1.0, 0.25, 0.35, 0.0],  # happy
        [-0.1, 0.9, -0.25, -0.8, 0.0, -0.1, 0.0],  # sad
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],  # neutral
        [-0.7, -0.9, 0.15, -0.3, 0.0, -0.3, 0.2],  # angry
        [1.0, 0.1, 0.7, 0.0, 1.0, -0.3, 0.0],  # surprise
        [-0.4, -0.4, -0.3, -0.5, 0.1, 0.0, 1.0],  # disgust
        [0.7, 0.7, 0.7, -0.2, 0.5, 0.6, 0.0],  # fear
    ]
)
NUM_FOLDS = 5
SKIN_LIGHT, SKIN_DARK = np.array([236, 200, 176]), np.array([92, 60, 44])


def _identity(rng, size):
    """Everything about a clip that does not change over time."""
    skin = SKIN_LIGHT + (SKIN_DARK - SKIN_LIGHT) * rng.uniform() + rng.normal(0, 8, 3)
    gradient = np.linspace(0, 1, size, dtype=np.float32)
    top, bottom = rng.uniform(20, 235, (2, 3))
    background = top + (bottom - top) * gradient[:, None, None] * np.ones((1, size, 1), np.float32)
    angle = rng.uniform(0, 2 * math.pi)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    shade = 1 + rng.uniform(0.05, 0.3) * (math.cos(angle) * xs + math.sin(angle) * ys)  # lit from `angle`
    return dict(
        scale=size * rng.uniform(0.34, 0.40),  # face half-width in pixels: a face crop, as DFEW's
        elongation=rng.uniform(1.15, 1.4),  # face half-height / half-width
        center=size * (0.5 + rng.normal(0, 0.035, 2) + np.array([0, 0.03])),
        skin=np.clip(skin, 0, 255),
        hair=np.array([22, 16, 12]) + np.array([130, 95, 55]) * rng.uniform() ** 2 + rng.normal(0, 6, 3),
        background=np.clip(background, 0, 255).astype(np.uint8),
        shade=shade[..., None],
        noise=rng.uniform(0.5, 2),
        eye_gap=rng.uniform(0.36, 0.46),
        eye_size=rng.uniform(0.17, 0.23),
        mouth_width=rng.uniform(0.3, 0.42),
        rest=np.clip(rng.normal(0, 0.7, len(CONTROLS)), [-1, -1, -1, -1, 0, -1, 0], 1),
        sway=(rng.uniform(0, 0.03 * size, 2), rng.uniform(0.05, 0.2, 2), rng.uniform(0, 2 * math.pi, 2)),
        roll=(rng.uniform(0, 6), rng.uniform(0.03, 0.15), rng.uniform(0, 2 * math.pi)),
        talk=(rng.uniform(0, 0.25) * (rng.uniform() < 0.5), rng.uniform(0.4, 0.9)),
    )


def expression_track(rng, label, num_frames, rest, talk, onset=0):
    """(T, 7) control values: the resting face, and the class's expression coming and going in bursts (as in a
    laugh or a sob) from a random phase, period and intensity. With `onset` > 0 the face rests until that frame
    and the first burst starts there."""
    period = rng.uniform(12, 28)
    phase = rng.uniform(0, 2 * math.pi)
    intensity = rng.uniform(1.2, 1.6)
    t = np.arange(num_frames)
    if onset > 0:  # no expression before the onset, a burst rising from it
        phase = -2 * math.pi * onset / period
    burst = np.where(t >= onset, 0.5 - 0.5 * np.cos(2 * math.pi * t / period + phase), 0.0)
    track = rest + intensity * EXPRESSIONS[label] * burst[:, None]
    track += rng.normal(0, 0.03, track.shape)
    amplitude, speed = talk
    track[:, CONTROLS.index("open")] += amplitude * np.abs(np.sin(speed * t + rng.uniform(0, math.pi)))
    blink = np.ones(num_frames)
    for start in np.flatnonzero(rng.uniform(size=num_frames) < 1 / 40):
        blink[start : start + 3] = (0.5, 0.1, 0.5)[: len(blink[start : start + 3])]
    track[:, CONTROLS.index("eye")] = (1 + 0.8 * track[:, CONTROLS.index("eye")]) * blink - 1
    return track


class _Canvas:
    """One frame, drawn in face coordinates: x right, y down, unit = face half-width, origin = face centre,
    rolled by the head's angle. Anti-aliased, with 4 fractional bits of sub-pixel precision."""

    def __init__(self, background, center, unit, roll_degrees):
        self.frame = background.copy()
        self.center, self.unit, self.roll = center, unit, roll_degrees
        self.cos, self.sin = math.cos(math.radians(roll_degrees)), math.sin(math.radians(roll_degrees))

    def px(self, u, v):
        u, v = np.asarray(u, float), np.asarray(v, float)
        x = self.center[0] + self.unit * (self.cos * u - self.sin * v)
        y = self.center[1] + self.unit * (self.sin * u + self.cos * v)
        return np.round(np.stack([x, y], -1) * 16).astype(np.int32)

    def ellipse(self, u, v, a, b, color):
        axes = (int(a * self.unit * 16), int(max(b, 0.01) * self.unit * 16))
        center = tuple(self.px(u, v).tolist())
        cv2.ellipse(self.frame, center, axes, self.roll, 0, 360, _color(color), -1, cv2.LINE_AA, 4)

    def line(self, points, color, width):
        points = self.px(*np.transpose(points)).reshape(-1, 1, 2)
        thickness = max(1, round(width * self.unit))
        cv2.polylines(self.frame, [points], False, _color(color), thickness, cv2.LINE_AA, 4)

    def polygon(self, points, color):
        cv2.fillPoly(self.frame, [self.px(*np.transpose(points))], _color(color), cv2.LINE_AA, 4)


def _color(rgb):
    return tuple(float(c) for c in rgb)


def _draw_eyes_and_brows(canvas, face, brow, inner, eye, wrinkle):
    skin, hair = face["skin"], face["hair"]
    gap, size, eye_y = face["eye_gap"], face["eye_size"], -0.15 * face["elongation"]
    opening = max(1 + eye, 0.05) * 0.55 * size
    for side in (-1, 1):
        x = side * gap
        canvas.ellipse(x, eye_y, size, opening, (240, 240, 235))
        canvas.ellipse(x, eye_y, 0.45 * size, min(0.45 * size, opening), (40, 30, 25))
        canvas.line([(x - size, eye_y), (x, eye_y - opening), (x + size, eye_y)], skin * 0.6, 0.03)
        brow_y = eye_y - 0.3 - 0.28 * brow
        inner_point = (side * (gap - 0.16), brow_y - 0.28 * inner)
        outer_point = (side * (gap + 0.24), brow_y + 0.05 * inner)
        canvas.line([inner_point, (x, brow_y - 0.03 - 0.06 * inner), outer_point], hair, 0.2)
        if wrinkle > 0.05:  # nose wrinkle: creases beside the bridge
            shade = skin * (1 - 0.7 * min(wrinkle, 1))
            canvas.line([(side * 0.1, eye_y + 0.12), (side * 0.2, eye_y + 0.2)], shade, 0.1)
            canvas.line([(side * 0.11, eye_y + 0.22), (side * 0.22, eye_y + 0.3)], shade, 0.1)


def _draw_mouth(canvas, face, corner, mouth_open, stretch, wrinkle):
    """Upper and lower lip as parabolas through the corners; the gap between them filled when open."""
    mouth_y = 0.55 * face["elongation"]
    half = face["mouth_width"] * (1 + 0.25 * stretch + 0.1 * corner)
    corner_y = mouth_y - 0.3 * corner
    upper_y = mouth_y - 0.02 - 0.05 * max(wrinkle, 0)  # a wrinkled nose lifts the upper lip
    lower_y = upper_y + 0.02 + 0.5 * max(mouth_open, 0) * (1 - 0.3 * stretch)
    s = np.linspace(-1, 1, 9)
    upper = np.stack([half * s, corner_y + (upper_y + 0.04 * corner - corner_y) * (1 - s**2)], -1)
    lower = np.stack([half * s[::-1], corner_y + (lower_y + 0.04 * corner - corner_y) * (1 - s**2)], -1)
    if mouth_open > 0.05:
        canvas.polygon(np.concatenate([upper, lower]), (60, 20, 25))
    canvas.line(upper, (150, 70, 70), 0.12)
    canvas.line(lower[::-1], (150, 70, 70), 0.12)


def _draw_frame(face, controls, offset, roll_degrees):
    """(size, size, 3) uint8 RGB: background, hair, face, eyes and brows, nose, mouth."""
    brow, inner, eye, corner, mouth_open, stretch, wrinkle = controls
    canvas = _Canvas(face["background"], face["center"] + offset, face["scale"], roll_degrees)
    elongation = face["elongation"]
    canvas.ellipse(0, -0.35 * elongation, 1.08, 0.95 * elongation, face["hair"])
    canvas.ellipse(0, 0, 1.0, elongation, face["skin"])
    _draw_eyes_and_brows(canvas, face, brow, inner, eye, wrinkle)
    eye_y, nose_base = -0.15 * elongation, 0.25 * elongation
    canvas.line([(0, eye_y + 0.08), (0.03, nose_base), (0.1, nose_base)], face["skin"] * 0.7, 0.04)
    _draw_mouth(canvas, face, corner, mouth_open, stretch, wrinkle)
    return canvas.frame


def render_clip(seed, label, num_frames=32, size=160, onset=0):
    """(T, size, size, 3) uint8 RGB frames of one clip of class `label`, a pure function of its arguments; the
    expression starts at frame `onset`."""
    rng = np.random.default_rng(seed)
    face = _identity(rng, size)
    track = expression_track(rng, label, num_frames, face["rest"], face["talk"], onset)
    (sway, sway_speed, sway_phase), (roll, roll_speed, roll_phase) = face["sway"], face["roll"]
    # Sensor noise: each frame takes a random window of a few larger noise fields (cheaper than fresh noise).
    margin = 16
    noise = face["noise"] * rng.standard_normal((4, size + margin, size + margin, 3), dtype=np.float32)
    frames = np.empty((num_frames, size, size, 3), np.uint8)
    for t in range(num_frames):
        offset = sway * np.sin(sway_speed * t + sway_phase)
        frame = _draw_frame(face, track[t], offset, roll * math.sin(roll_speed * t + roll_phase))
        k, dy, dx = rng.integers(len(noise)), *rng.integers(margin, size=2)
        lit = frame * face["shade"] + noise[k, dy : dy + size, dx : dx + size]
        frames[t] = np.clip(lit, 0, 255, out=lit)
    return frames


def _clip_job(job):
    """Render one clip and write it; job = (out, kind, index, seed, label, num_frames, size, fps, onset)."""
    out, kind, index, seed, label, num_frames, size, fps, onset = job
    name = f"clip_{index:05d}"
    frames = render_clip(seed, label, num_frames, size, onset)
    if kind == "labelled":
        folder = os.path.join(out, "frames", name)
        os.makedirs(folder, exist_ok=True)
        for t, frame in enumerate(frames, start=1):
            cv2.imwrite(os.path.join(folder, f"{t:05d}.jpg"), frame[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
        write_video(os.path.join(out, "videos", f"{name}.mp4"), frames, fps)
    else:
        write_video(os.path.join(out, "pretrain", f"{name}.mp4"), frames, fps)
    return kind, index, label


def _labelled_class(index):
    """Labelled clip `index`'s class: five clips (one per fold) of each class in turn."""
    return (index // NUM_FOLDS) % len(DFEW_CLASSES)


def _jobs(out, kind, count, seed, num_frames, size, fps, onset=0.0):
    """Labelled clips cycle through the classes fold by fold; each unlabelled clip shows a random class
    (written as label 0: the pool is unlabelled). The expression starts `onset` of the way into each clip."""
    stream = 0 if kind == "labelled" else 1
    for index in range(count):
        rng = np.random.default_rng([seed, stream, index])
        length = int(rng.integers(num_frames * 3 // 4, num_frames * 5 // 4 + 1))
        label = _labelled_class(index) if kind == "labelled" else int(rng.integers(len(DFEW_CLASSES)))
        yield out, kind, index, [seed, stream, index, 1], label, length, size, fps, round(onset * length)


def _write_splits(out, num_clips):
    """Fold k: test on clips with index % 5 == k - 1, validate on the next residue, train on the rest."""
    labels = [_labelled_class(index) for index in range(num_clips)]
    layouts = (
        (out, lambda i: os.path.join(out, "frames", f"clip_{i:05d}")),
        (os.path.join(out, "mp4"), lambda i: os.path.join(out, "videos", f"clip_{i:05d}.mp4")),
    )
    for fold in range(NUM_FOLDS):
        role = {fold: "test", (fold + 1) % NUM_FOLDS: "val"}
        for root, path in layouts:
            for name in ("train", "val", "test"):
                part = [(path(i), labels[i]) for i in range(num_clips) if role.get(i % NUM_FOLDS, "train") == name]
                write_annotations(os.path.join(root, f"split{fold + 1:02d}", f"{name}.csv"), part)


def recipe(num_clips, num_pretrain, num_frames, size, seed, fps, onset):
    """What a generated set is a pure function of: its arguments and this file."""
    with open(__file__, "rb") as source:
        generator = hashlib.sha1(source.read()).hexdigest()
    return dict(num_clips=num_clips, num_pretrain=num_pretrain, num_frames=num_frames, size=size, seed=seed, fps=fps,
                onset=onset, generator=generator)  # fmt: skip


def generate(
    out, num_clips=350, num_pretrain=700, num_frames=32, size=160, seed=0, fps=25, workers=2, reuse=False, onset=0.0
):
    """Write the dataset under `out` (layout in the module docstring) and, last, its recipe.json. With `reuse`,
    a finished set of the same recipe is kept as it is. Returns counts, seconds and whether it was reused."""
    if size % 2:
        raise ValueError(f"size must be even for H.264, got {size}")
    if not 0 <= onset < 1:
        raise ValueError(f"onset is a fraction of the clip in [0, 1), got {onset}")
    start = time.perf_counter()
    wanted = recipe(num_clips, num_pretrain, num_frames, size, seed, fps, onset)
    recipe_path = os.path.join(out, "recipe.json")
    if reuse and os.path.exists(recipe_path):
        with open(recipe_path) as f:
            if json.load(f) == wanted:
                return dict(num_clips=num_clips, num_pretrain=num_pretrain, seconds=0.0, reused=True)
    for folder in ("frames", "videos", "pretrain"):
        os.makedirs(os.path.join(out, folder), exist_ok=True)
    jobs = [
        *_jobs(out, "labelled", num_clips, seed, num_frames, size, fps, onset),
        *_jobs(out, "pretrain", num_pretrain, seed, num_frames, size, fps, onset),
    ]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(_clip_job, jobs, chunksize=8))
    else:
        list(map(_clip_job, jobs))
    _write_splits(out, num_clips)
    write_annotations(
        os.path.join(out, "pretrain.csv"),
        [(os.path.join(out, "pretrain", f"clip_{i:05d}.mp4"), 0) for i in range(num_pretrain)],
    )
    with open(recipe_path, "w") as f:
        json.dump(wanted, f, indent=1)
    return dict(num_clips=num_clips, num_pretrain=num_pretrain, seconds=time.perf_counter() - start, reused=False)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="saved/data/synthetic")
    parser.add_argument("--num_clips", type=int, default=350, help="labelled clips (a multiple of 35 is balanced)")
    parser.add_argument("--num_pretrain", type=int, default=700, help="unlabelled pretraining clips")
    parser.add_argument("--num_frames", type=int, default=32, help="mean clip length; lengths vary by 25 %%")
    parser.add_argument("--size", type=int, default=160, help="frame side in pixels (even; DFEW ships 256)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--reuse", action="store_true", help="keep a finished set of the same recipe and generator")
    parser.add_argument("--onset", type=float, default=0.0,
                        help="the face rests for this fraction of each clip before the expression starts (demo "
                        "videos; 0: the expression comes and goes from the first frame)")  # fmt: skip
    args = parser.parse_args()
    try:
        summary = generate(
            args.out, args.num_clips, args.num_pretrain, args.num_frames, args.size, args.seed, args.fps,
            args.workers, args.reuse, args.onset,
        )  # fmt: skip
    except ValueError as err:  # an odd --size or an --onset outside [0, 1)
        parser.error(str(err))
    counts = f"{summary['num_clips']} labelled and {summary['num_pretrain']} pretraining clips"
    if summary["reused"]:
        print(f"reusing {counts} in {args.out}: same recipe and generator ({args.out}/recipe.json)")
    else:
        print(f"wrote {counts} to {args.out} in {summary['seconds']:.1f} s")


if __name__ == "__main__":
    main()
