"""Fine-tuning pieces: the loss with mixup / label smoothing, and the final multi-view test report."""

from pathlib import Path

import torch
from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy

from datasets.transforms import normalize, random_erase_

from .distributed import is_main_process
from .evaluate import coverage, evaluate, write_test_outputs


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
    title = f"{tag} checkpoint: UAR {metrics['uar']:.2f}, WAR {metrics['war']:.2f}"
    write_test_outputs(Path(output_dir) / f"test_{tag}", metrics, table, class_names, tag, title)
    return metrics
