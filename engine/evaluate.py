"""Validation and multi-view testing: predictions gathered from every rank, metrics computed once.

Loaders come from engine.data.build_loader(train=False). Items are (video, label) or (video, label,
video_index, ...); without a video index every item is its own video. Views of one video are averaged as
softmax probabilities, then argmax (upstream). A video with a view that cannot be read is left out of the
metrics and listed by path in metrics['unreadable'] (never replaced: a test split does not shrink silently);
strict=True makes it an error.
"""

import csv
import json
from pathlib import Path

import torch
import torch.nn.functional as F

from datasets.transforms import normalize
from datasets.video_dataset import DataLoadError

from .distributed import all_gather_tensor
from .metrics import classification_metrics, plot_confusion_matrix
from .train import autocast


def readable_batches(loader, views, lost, reasons, logger=None, desc="eval"):
    """(indices, batch) for each batch of the loader that holds clips; the videos of its unreadable items go to
    `lost`, and the first reason for each to `reasons`."""
    batches = logger.progress(loader, desc, total=len(loader)) if logger else loader
    for indices, batch, unreadable in batches:
        for index, reason in unreadable:
            lost.append(index // views)
            reasons.setdefault(index // views, reason)
        if batch is not None:
            yield indices, batch


@torch.no_grad()
def predict(model, loader, device, amp_dtype=None, logger=None, desc="eval"):
    """Logits, labels, item and video indices of every readable item of the loader, from all ranks; 'unreadable':
    the videos with an item that could not be read (all ranks), 'reasons': {video: why} for those of this rank."""
    model.eval()
    views = getattr(loader.dataset.dataset, "num_views", 1)
    logits, labels, items, videos = [], [], [], []
    lost, reasons = [], {}
    for indices, batch in readable_batches(loader, views, lost, reasons, logger, desc):
        clips, target = normalize(batch[0].to(device, non_blocking=True)), batch[1]
        with autocast(device, amp_dtype):
            out = model(clips)
        logits.append(out.float())  # stays on the device: one copy at the end, no wait per batch
        labels.append(target.cpu())
        items.append(indices)
        videos.append(batch[2].cpu() if len(batch) > 2 else indices)
    empty = torch.empty(0, dtype=torch.long)
    result = {
        "logits": all_gather_tensor(torch.cat(logits).cpu() if logits else torch.empty(0, 0)),
        "labels": all_gather_tensor(torch.cat(labels) if labels else empty),
        "items": all_gather_tensor(torch.cat(items) if items else empty),
        "videos": all_gather_tensor(torch.cat(videos) if videos else empty),
    }
    order = result["items"].argsort()
    result = {k: v[order] for k, v in result.items()}
    result["unreadable"] = torch.unique(all_gather_tensor(torch.tensor(lost, dtype=torch.long)))
    result["reasons"] = reasons
    return result


def per_video(predictions):
    """Average the softmax of every view of a video: (video ids, probabilities, labels)."""
    probs = F.softmax(predictions["logits"].float(), dim=-1)
    videos, inverse = torch.unique(predictions["videos"], return_inverse=True)
    summed = torch.zeros(len(videos), probs.shape[1]).index_add_(0, inverse, probs)
    counts = torch.zeros(len(videos)).index_add_(0, inverse, torch.ones(len(inverse)))
    labels = torch.zeros(len(videos), dtype=torch.long).scatter_(0, inverse, predictions["labels"].long())
    return videos, summed / counts[:, None], labels


def video_paths(dataset, videos):
    """The file of each video index, where the dataset lists its samples; else the index itself."""
    samples = getattr(dataset, "samples", None)
    return [samples[v].path if samples is not None else str(v) for v in videos]


def evaluate(model, loader, device, num_classes, amp_dtype=None, logger=None, desc="eval", strict=False):
    """Per-video metrics (UAR, WAR, macro F1, confusion matrix; num_samples: the videos they cover, num_videos:
    all, unreadable: the paths left out) plus the per-video table (video, probs, label, path)."""
    predictions = predict(model, loader, device, amp_dtype, logger, desc)
    lost, reasons = predictions.pop("unreadable"), predictions.pop("reasons")
    dataset = loader.dataset.dataset
    lost_paths = video_paths(dataset, lost.tolist())
    if lost_paths and strict:
        first = reasons.get(int(lost[0]), f"{lost_paths[0]}: cannot be read")
        raise DataLoadError(f"{desc}: {first} ({len(lost_paths)} unreadable; --strict_eval makes this an error)")
    keep = ~torch.isin(predictions["videos"], lost)
    predictions = {k: v[keep] for k, v in predictions.items()}
    videos, probs, labels = per_video(predictions)
    if lost_paths and not len(videos):
        raise DataLoadError(f"{desc}: none of the {len(lost_paths)} videos could be read, e.g. {lost_paths[0]}")
    loss = F.cross_entropy(predictions["logits"], predictions["labels"].long()).item() if len(labels) else 0.0
    metrics = classification_metrics(labels.numpy(), probs.argmax(1).numpy(), num_classes)
    metrics.update(loss=loss, num_videos=len(videos) + len(lost_paths), unreadable=lost_paths)
    table = {"video": videos, "probs": probs, "label": labels, "path": video_paths(dataset, videos.tolist())}
    return metrics, table


def coverage(metrics, shown=3):
    """'9 videos', or '8 of 9 videos; 1 unreadable: <path>' when the evaluation left videos out."""
    lost = metrics["unreadable"]
    if not lost:
        return f"{metrics['num_samples']} videos"
    names = ", ".join(lost[:shown]) + (f" and {len(lost) - shown} more" if len(lost) > shown else "")
    return f"{metrics['num_samples']} of {metrics['num_videos']} videos; {len(lost)} unreadable: {names}"


def write_test_outputs(folder, metrics, table, class_names, checkpoint, title, extra=None):
    """pred.csv (per video: label, prediction, probabilities), metrics.json and confusion_matrix.png in `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    preds = table["probs"].argmax(1)
    with open(folder / "pred.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["video", "path", "label", "pred", *[f"p_{c}" for c in class_names]])
        rows = zip(table["video"], table["path"], table["probs"], table["label"], preds, strict=True)
        for video, path, probs, label, pred in rows:
            writer.writerow([int(video), path, int(label), int(pred), *[f"{p:.6f}" for p in probs.tolist()]])
    record = {"checkpoint": checkpoint, "classes": list(class_names), **metrics, **(extra or {})}
    (folder / "metrics.json").write_text(json.dumps(record, indent=1))
    plot_confusion_matrix(metrics["confusion_matrix"], class_names, folder / "confusion_matrix.png", title)
    return folder
