"""The demo's outputs: predictions.json / .csv per person and window, timeline.png, and the annotated video."""

import csv
import json
import queue
import threading
from fractions import Fraction

import cv2
import numpy as np

from datasets.video_io import VideoWriter

NO_FACE = "no face"
BOX = ("x1", "y1", "x2", "y2")
MAX_PANELS = 12  # timeline.png shows at most this many persons


def overall_prediction(windows, classes):
    """Label and probabilities averaged over the windows with a face; None when there are none."""
    probs = [w.probs for w in windows if w.probs is not None]
    if not probs:
        return None
    mean = np.mean(probs, axis=0)
    return {"label": classes[int(mean.argmax())], "probs": dict(zip(classes, map(float, mean), strict=True))}


def window_rows(windows, classes, fps):
    """One dict per window: frames, seconds, label ('no face' without one), the face box in the middle of the
    window ([x1, y1, x2, y2] in the video's pixels, None without a face) and probabilities by class."""
    return [
        {
            "start_frame": w.start,
            "end_frame": w.end,
            "start_s": round(w.start / fps, 3),
            "end_s": round((w.end + 1) / fps, 3),
            "label": classes[int(w.probs.argmax())] if w.probs is not None else NO_FACE,
            "box": [round(float(v), 1) for v in w.box] if w.probs is not None else None,
            "probs": dict(zip(classes, map(float, w.probs), strict=True)) if w.probs is not None else None,
        }
        for w in windows
    ]


def write_predictions(folder, report):
    """predictions.json (the whole report) and predictions.csv (one row per person and window)."""
    (folder / "predictions.json").write_text(json.dumps(report, indent=1))
    classes = report["classes"]
    with open(folder / "predictions.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["person", "start_frame", "end_frame", "start_s", "end_s", "label", *BOX, *classes])
        for person in report["persons"]:
            for r in person["windows"]:
                box = r["box"] or [""] * 4
                probs = [f"{r['probs'][c]:.6f}" for c in classes] if r["probs"] else [""] * len(classes)
                row = [person["person"], r["start_frame"], r["end_frame"], r["start_s"], r["end_s"], r["label"]]
                writer.writerow([*row, *box, *probs])


def plot_timeline(path, timelines, classes, fps, title="", max_panels=MAX_PANELS):
    """Class probabilities over time, one panel per person ({name: (T, K) timeline}, the first `max_panels`);
    stretches without that person's face are shaded grey."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = list(timelines.items())[:max_panels] or [("no face in the video", None)]
    fig, axes = plt.subplots(len(shown), 1, figsize=(10, 0.6 + 2.4 * len(shown)), sharex=True, squeeze=False)
    for ax, (name, timeline) in zip(axes[:, 0], shown, strict=True):
        if timeline is not None:
            seconds = np.arange(len(timeline)) / fps
            for k, class_name in enumerate(classes):
                ax.plot(seconds, timeline[:, k], label=class_name, linewidth=1.6)
            faceless = np.isnan(timeline).all(axis=1)
            ax.fill_between(seconds, 0, 1, where=faceless, color="0.85", step="mid", label=NO_FACE)
            ax.set_xlim(0, max(seconds[-1], 1 / fps))
        ax.set_ylim(0, 1)
        ax.set_ylabel("probability")
        ax.set_title(name, fontsize=10, loc="left")
    if timelines:
        axes[0, 0].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    axes[-1, 0].set_xlabel("time (s)")
    more = len(timelines) - len(shown)
    fig.suptitle(title + (f" ({more} more persons in predictions.json)" if more > 0 else ""))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


COLORS = [(0, 255, 0), (255, 80, 80), (80, 160, 255), (255, 200, 0), (255, 0, 255), (0, 255, 255)]


def annotate_frame(frame, boxes, probs, classes, ids):
    """Each person's box with its ID and current label, drawn on a copy of the frame; when exactly one person
    has a label, also one probability bar per class for it (bottom left). boxes (P, 4), probs (P, K), NaN where
    missing."""
    out = np.ascontiguousarray(frame).copy()
    h, w = out.shape[:2]
    scale = max(h, w) / 640
    thickness = max(1, round(2 * scale))
    font = cv2.FONT_HERSHEY_SIMPLEX
    labelled = []
    for box, p, person in zip(boxes, probs, ids, strict=True):
        if np.isnan(box).any():
            continue
        color = COLORS[(person - 1) % len(COLORS)]
        x1, y1, x2, y2 = np.round(box).astype(int)
        cv2.rectangle(out, (x1, y1), (x2, y2), color, thickness)
        text = f"P{person} " + (
            f"{classes[int(np.nanargmax(p))]} {np.nanmax(p):.2f}" if not np.isnan(p).all() else NO_FACE
        )
        cv2.putText(out, text, (x1, max(y1 - int(6 * scale), int(14 * scale))), font, 0.6 * scale, color, thickness)
        if not np.isnan(p).all():
            labelled.append(p)
    if len(labelled) == 1:
        bar_w, bar_h = int(100 * scale), max(4, int(12 * scale))
        for k, (name, p) in enumerate(zip(classes, labelled[0], strict=True)):
            y = h - int(10 * scale) - (len(classes) - k) * (bar_h + 4)  # bottom left, away from the faces
            cv2.rectangle(out, (int(10 * scale), y), (int(10 * scale) + int(bar_w * p), y + bar_h), (255, 128, 0), -1)
            cv2.putText(out, name, (int(15 * scale) + bar_w, y + bar_h), font, 0.4 * scale, (255, 255, 255), 1)
    return out


class AnnotatedVideo:
    """annotated.mp4, each frame drawn and encoded in a thread of its own beside the model: `write(frame, boxes,
    probs)` (the signature of run_windows' on_frame) queues it, at most `queued` frames wait. Odd frame sides
    lose their last row or column (H.264 wants even ones). A failure in the thread is raised by the next call."""

    def __init__(self, path, classes, fps, ids, queued=32):
        self.classes, self.ids = classes, ids
        self.writer = VideoWriter(path, fps=Fraction(fps).limit_denominator(1001))
        self.waiting, self.error = queue.Queue(maxsize=queued), None
        self.thread = threading.Thread(target=self._encode_waiting, daemon=True)
        self.thread.start()

    def _encode_waiting(self):
        while (item := self.waiting.get()) is not None:
            if self.error is None:
                try:
                    self._encode(*item)
                except Exception as err:  # raised in the caller's thread
                    self.error = err

    def _encode(self, frame, boxes, probs):
        out = annotate_frame(frame, boxes, probs, self.classes, self.ids)
        h, w = out.shape[:2]
        self.writer.write(out[: h - h % 2, : w - w % 2])

    def _raise_error(self):
        if self.error is not None:
            raise self.error

    def write(self, frame, boxes, probs):
        self._raise_error()
        self.waiting.put((frame, boxes, probs))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.waiting.put(None)
        self.thread.join()
        self.writer.close()
        if exc[0] is None:
            self._raise_error()
