"""Validation and multi-view testing: predictions gathered from every rank, metrics computed once.

Batches are (video, label) or (video, label, video_index, ...); without a video index every item
is its own video. Views of one video are averaged as softmax probabilities, then argmax (upstream).
"""

import torch
import torch.nn.functional as F

from datasets.transforms import normalize

from .distributed import all_gather_tensor
from .metrics import classification_metrics
from .train import autocast


@torch.no_grad()
def predict(model, loader, device, amp_dtype=None, logger=None, desc="eval"):
    """Logits, labels, item and video indices of every item of the loader, from all ranks."""
    model.eval()
    item_ids = list(loader.sampler)
    logits, labels, items, videos = [], [], [], []
    seen = 0
    batches = logger.progress(loader, desc, total=len(loader)) if logger else loader
    for batch in batches:
        clips, target = normalize(batch[0].to(device, non_blocking=True)), batch[1]
        with autocast(device, amp_dtype):
            out = model(clips)
        ids = torch.tensor(item_ids[seen : seen + len(target)])
        seen += len(target)
        logits.append(out.float())  # stays on the device: one copy at the end, no wait per batch
        labels.append(target.cpu())
        items.append(ids)
        videos.append(batch[2].cpu() if len(batch) > 2 else ids)
    empty = torch.empty(0, dtype=torch.long)
    result = {
        "logits": all_gather_tensor(torch.cat(logits).cpu() if logits else torch.empty(0, 0)),
        "labels": all_gather_tensor(torch.cat(labels) if labels else empty),
        "items": all_gather_tensor(torch.cat(items) if items else empty),
        "videos": all_gather_tensor(torch.cat(videos) if videos else empty),
    }
    order = result["items"].argsort()
    return {k: v[order] for k, v in result.items()}


def per_video(predictions):
    """Average the softmax of every view of a video: (video ids, probabilities, labels)."""
    probs = F.softmax(predictions["logits"].float(), dim=-1)
    videos, inverse = torch.unique(predictions["videos"], return_inverse=True)
    summed = torch.zeros(len(videos), probs.shape[1]).index_add_(0, inverse, probs)
    counts = torch.zeros(len(videos)).index_add_(0, inverse, torch.ones(len(inverse)))
    labels = torch.zeros(len(videos), dtype=torch.long).scatter_(0, inverse, predictions["labels"].long())
    return videos, summed / counts[:, None], labels


def evaluate(model, loader, device, num_classes, amp_dtype=None, logger=None, desc="eval"):
    """Per-video metrics (UAR, WAR, macro F1, confusion matrix) plus the per-video table."""
    predictions = predict(model, loader, device, amp_dtype, logger, desc)
    videos, probs, labels = per_video(predictions)
    loss = F.cross_entropy(predictions["logits"], predictions["labels"].long()).item() if len(labels) else 0.0
    metrics = classification_metrics(labels.numpy(), probs.argmax(1).numpy(), num_classes)
    metrics["loss"] = loss
    return metrics, {"video": videos, "probs": probs, "label": labels}
