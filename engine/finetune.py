"""Fine-tuning pieces: the loss with mixup / label smoothing, and the final multi-view test report."""

import csv
import json
from pathlib import Path

import torch
from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy

from datasets.transforms import normalize, random_erase_

from .distributed import is_main_process
from .evaluate import coverage, evaluate
from .metrics import plot_confusion_matrix


def finetune_loss(mixup=None, smoothing=0.0):
    """compute_loss(model, (uint8 clips, labels[, erase boxes])) -> (loss, metrics) as upstream: normalise,
    random erasing, then soft-target CE after mixup/cutmix, else label-smoothing CE, else plain CE;
    training accuracy only without mixup."""
    if mixup is not None:
        criterion = SoftTargetCrossEntropy()
    elif smoothing > 0:
        criterion = LabelSmoothingCrossEntropy(smoothing)
    else:
        criterion = torch.nn.CrossEntropyLoss()

    def compute_loss(model, batch):
        clips, labels = normalize(batch[0]), batch[1]
        if len(batch) > 2:
            random_erase_(clips, batch[2])
        targets = labels
        if mixup is not None:
            clips, targets = mixup(clips, labels)
        logits = model(clips)
        loss = criterion(logits.float(), targets)
        metrics = {}
        if mixup is None:
            metrics["class_acc"] = (logits.argmax(1) == labels).float().mean()
        return loss, metrics

    return compute_loss


def run_test(
    model, loader, device, num_classes, class_names, output_dir, tag, amp_dtype=None, logger=None, strict=False
):
    """Multi-view test; writes pred.csv, metrics.json and confusion_matrix.png under test_<tag>/."""
    metrics, table = evaluate(
        model, loader, device, num_classes, amp_dtype, logger, desc=f"test ({tag})", strict=strict
    )
    summary = ", ".join(f"{k.upper()} {metrics[k]:.2f}" for k in ("uar", "war", "macro_f1"))
    print(f"test [{tag} checkpoint]: {summary} on {coverage(metrics)}")
    if output_dir is None or not is_main_process():
        return metrics
    folder = Path(output_dir) / f"test_{tag}"
    folder.mkdir(parents=True, exist_ok=True)
    preds = table["probs"].argmax(1)
    with open(folder / "pred.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["video", "path", "label", "pred", *[f"p_{c}" for c in class_names]])
        rows = zip(table["video"], table["path"], table["probs"], table["label"], preds, strict=True)
        for video, path, probs, label, pred in rows:
            writer.writerow([int(video), path, int(label), int(pred), *[f"{p:.6f}" for p in probs.tolist()]])
    record = {"checkpoint": tag, "classes": list(class_names), **metrics}
    (folder / "metrics.json").write_text(json.dumps(record, indent=1))
    plot_confusion_matrix(
        metrics["confusion_matrix"],
        class_names,
        folder / "confusion_matrix.png",
        f"{tag} checkpoint: UAR {metrics['uar']:.2f}, WAR {metrics['war']:.2f}",
    )
    return metrics
