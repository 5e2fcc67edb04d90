"""The demo's outputs: predictions.json / .csv per window, timeline.png, and the annotated video."""

import csv
import json
from fractions import Fraction

import cv2
import numpy as np

from datasets.video_io import VideoWriter

NO_FACE = "no face"


def overall_prediction(windows, classes):
    """Label and probabilities averaged over the windows with a face; None when there are none."""
    probs = [w.probs for w in windows if w.probs is not None]
    if not probs:
        return None
    mean = np.mean(probs, axis=0)
    return {"label": classes[int(mean.argmax())], "probs": dict(zip(classes, map(float, mean), strict=True))}


def window_rows(windows, classes, fps):
    """One dict per window: frames, seconds, label ('no face' without one) and probabilities by class."""
    return [
        {
            "start_frame": w.start,
            "end_frame": w.end,
            "start_s": round(w.start / fps, 3),
            "end_s": round((w.end + 1) / fps, 3),
            "label": classes[int(w.probs.argmax())] if w.probs is not None else NO_FACE,
            "probs": dict(zip(classes, map(float, w.probs), strict=True)) if w.probs is not None else None,
        }
        for w in windows
    ]


def write_predictions(folder, report):
    """predictions.json (the whole report) and predictions.csv (one row per window of report['windows'])."""
    (folder / "predictions.json").write_text(json.dumps(report, indent=1))
    classes = report["classes"]
    with open(folder / "predictions.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["start_frame", "end_frame", "start_s", "end_s", "label", *classes])
        for r in report["windows"]:
            probs = [f"{r['probs'][c]:.6f}" for c in classes] if r["probs"] else [""] * len(classes)
            writer.writerow([r["start_frame"], r["end_frame"], r["start_s"], r["end_s"], r["label"], *probs])


def plot_timeline(path, timeline, classes, fps, title=""):
    """Class probabilities over time; stretches without a face are shaded grey."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seconds = np.arange(len(timeline)) / fps
    fig, ax = plt.subplots(figsize=(10, 3.5))
    for k, name in enumerate(classes):
        ax.plot(seconds, timeline[:, k], label=name, linewidth=1.6)
    faceless = np.isnan(timeline).all(axis=1)
    ax.fill_between(seconds, 0, 1, where=faceless, color="0.85", step="mid", label=NO_FACE)
    ax.set_xlim(0, max(seconds[-1], 1 / fps))
    ax.set_ylim(0, 1)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("probability")
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def annotate_frame(frame, box, probs, classes):
    """Face box, the current label and one probability bar per class, drawn on a copy of the frame."""
    out = np.ascontiguousarray(frame).copy()
    h, w = out.shape[:2]
    scale = max(h, w) / 640
    thickness = max(1, round(2 * scale))
    if box is not None and not np.isnan(box).any():
        x1, y1, x2, y2 = np.round(box).astype(int)
        cv2.rectangle(out, (x1, y1), (x2, y2), (0, 255, 0), thickness)
    label = classes[int(np.nanargmax(probs))] if probs is not None and not np.isnan(probs).all() else NO_FACE
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(out, label, (int(10 * scale), int(30 * scale)), font, 0.9 * scale, (255, 255, 0), thickness)
    if probs is not None and not np.isnan(probs).all():
        bar_w, bar_h = int(100 * scale), max(4, int(12 * scale))
        for k, (name, p) in enumerate(zip(classes, probs, strict=True)):
            y = int(45 * scale) + k * (bar_h + 4)
            cv2.rectangle(out, (int(10 * scale), y), (int(10 * scale) + int(bar_w * p), y + bar_h), (255, 128, 0), -1)
            cv2.putText(out, name, (int(15 * scale) + bar_w, y + bar_h), font, 0.4 * scale, (255, 255, 255), 1)
    return out


class AnnotatedVideo:
    """annotated.mp4 written frame by frame (`write(frame, box, probs)`, the signature of run_windows' on_frame);
    odd frame sides lose their last row or column (H.264 wants even ones)."""

    def __init__(self, path, classes, fps):
        self.classes = classes
        self.writer = VideoWriter(path, fps=Fraction(fps).limit_denominator(1001))

    def write(self, frame, box, probs):
        out = annotate_frame(frame, box, probs, self.classes)
        h, w = out.shape[:2]
        self.writer.write(out[: h - h % 2, : w - w % 2])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.writer.close()
