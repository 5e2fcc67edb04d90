"""Fine-tuning pieces: initialising from a pretrained file, the loss with mixup / label smoothing, validation that
keeps checkpoint-best.pth (an `end_epoch` for engine.run.fit), and the final multi-view test report."""

from pathlib import Path

import torch
from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy

from datasets.transforms import normalize, random_erase_
from models import load_weights

from .checkpoint import save_state
from .distributed import is_main_process, unwrap
from .evaluate import coverage, evaluate, write_test_outputs


def load_pretrained(model, path, name):
    """--finetune: the file's weights into `model` (named `name`); only the classifier (fc_norm, head) may be
    missing."""
    report = load_weights(model, path)
    print(f"initialising from {path}: {report}")
    unexpected_missing = [k for k in report.missing if not k.startswith(("fc_norm.", "head."))]
    if unexpected_missing:
        raise ValueError(f"{path}: does not fit {name}, missing {', '.join(unexpected_missing[:5])}")


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


def keep_best(run, state, loader, metric="acc1", strict=False):
    """end_epoch for engine.run.fit: validate on `loader`, log val_uar, val_war, val_macro_f1 and val_loss (and
    tensorboard perf/), and write checkpoint-best.pth when the score (`metric`: acc1 is WAR, or uar) beats
    state.best. checkpoint-best.pth comes before the epoch's checkpoint-N.pth, which holds the best score so far."""

    def end_epoch(epoch):
        classes = unwrap(state.model).num_classes
        metrics, _ = evaluate(state.model, loader, run.device, classes, run.amp_dtype, run.logger, "val", strict)
        values = {f"val_{k}": metrics[k] for k in ("uar", "war", "macro_f1", "loss")}
        run.logger.scalars(epoch, "perf", {k[4:]: v for k, v in values.items()})
        score = metrics["uar"] if metric == "uar" else metrics["war"]
        if score > state.best["score"] and run.output_dir:
            state.best = {"epoch": epoch, "score": score}
            save_state(run.output_dir / "checkpoint-best.pth", state, "best")
        note = f", val UAR {metrics['uar']:.2f} WAR {metrics['war']:.2f}"
        return values, note + (f" on {coverage(metrics)}" if metrics["unreadable"] else "")

    return end_epoch


def run_test(run, model, loader, class_names, tag, strict=False):
    """Multi-view test; writes pred.csv, metrics.json and confusion_matrix.png under test_<tag>/."""
    desc, classes = f"test ({tag})", unwrap(model).num_classes
    metrics, table = evaluate(model, loader, run.device, classes, run.amp_dtype, run.logger, desc, strict)
    summary = ", ".join(f"{k.upper()} {metrics[k]:.2f}" for k in ("uar", "war", "macro_f1"))
    print(f"test [{tag} checkpoint]: {summary} on {coverage(metrics)}")
    if run.output_dir is None or not is_main_process():
        return metrics
    title = f"{tag} checkpoint: UAR {metrics['uar']:.2f}, WAR {metrics['war']:.2f}"
    write_test_outputs(Path(run.output_dir) / f"test_{tag}", metrics, table, class_names, tag, title)
    return metrics
