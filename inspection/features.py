"""Per-video features of a checkpoint's encoder over an annotation file, through the test pipeline.

Contract: loaders are evaluation loaders (engine.data: batches (item indices, collated items or None,
[(index, reason) of unreadable items]) over `FinetuneDataset` in test mode, items (clip, label, video, view)).
`video_tokens(trunk, clips)` turns clips into region tokens (B, M, C) (M = 0 for the ViT) and local tokens
averaged over each token time slice (B, t, C), from the last block (before any final norm: a probe
standardises). `average_views` averages the views of each video in view order, so the result does not depend
on batching or on ranks. A video with a view that cannot be read is left out and listed (as evaluation does);
strict makes it an error.

`extract_features` writes a folder:
    features.json   the settings; once complete also the video count, array shapes and unreadable videos
    shard_00000/    region.npy (V, M, C) float32, local.npy (V, t, C) float32, video.npy (V,) int64 (row of the
                    annotation file), label.npy (V,) int64, num_views.npy (V,) int64[, probs.npy (V, K)],
                    unreadable.npy (U,) int64 (videos left out)
    index.csv       one row per video: row, shard, offset, video, path, label, num_views
Shards cover consecutive videos and are written to a temporary folder renamed when whole, so a killed run
leaves only whole shards and the same command resumes after them. Under torchrun rank r computes shards
r, r + W, ... each whole, with the batches one process would use (so the numbers are the same), and rank 0
writes the index once every shard exists. `features_in_memory` is the same computation with items shared
across ranks and gathered, for probing during pretraining.
"""

import csv
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from datasets.transforms import normalize
from datasets.video_dataset import DataLoadError, FinetuneDataset
from engine.data import LeaveOutUnreadable, build_loader, collate_eval
from engine.distributed import all_gather_tensor, barrier, is_main_process, rank, world_size
from engine.evaluate import readable_batches
from engine.train import autocast
from models.pretrained import Encoder, encoder_from_checkpoint
from system.files import leftovers, remove, write_atomic

FEATURE_ARRAYS = ("region", "local", "probs")


class FeatureError(ValueError):
    """A features folder that cannot be used as asked; the message is one line."""


@dataclass
class FeatureSettings:
    """The test pipeline's loader options (run_finetuning.py's flags); None = the checkpoint's or input size."""

    data_root: str | None = None
    sampling_rate: int | None = None  # None: the checkpoint's training flag, else 4
    short_side_size: int | None = None  # None: the input size
    test_num_segment: int = 2
    test_num_crop: int = 2
    strict: bool = False  # an unreadable video is an error instead of being left out
    batch_size: int = 32
    num_workers: int = 0
    pin_memory: bool = False
    shard_size: int = 1024  # videos per shard
    with_head: bool = False  # also store the fine-tuned head's probabilities (classifiers only)


def video_tokens(trunk, clips):  # B, 3, T, H, W -> region B, M, C and local B, t, C
    x, order = trunk.forward_features(clips)
    if x.ndim == 4:  # LGI-Former: B, M, S, C, region token first
        region = x[:, :, 0]  # B, M, C
        local = x[:, :, 1:].flatten(1, 2)  # B, N, C in encoder order
    else:  # ViT: B, N, C
        region, local = x[:, :0], x  # B, 0, C and B, N, C
    raster = torch.empty_like(local)
    raster[:, order[0]] = local  # B, N, C in raster order
    B, N, C = raster.shape
    t = trunk.patch_embed.grid_size[0]
    return region, raster.view(B, t, N // t, C).mean(2)  # B, t, C


@torch.no_grad()
def item_features(encoder, loader, device, amp_dtype=None, with_head=False, logger=None, desc="features"):
    """Features of every readable item the loader gives this rank: region, local[, probs], video, view (CPU
    tensors), plus lost: the videos with an unreadable item, and reasons {video: why}."""
    trunk = encoder.trunk.eval()
    M, t, C = getattr(trunk, "num_regions", 0), trunk.patch_embed.grid_size[0], trunk.embed_dim
    out = {"region": [torch.empty(0, M, C)], "local": [torch.empty(0, t, C)]}  # empty parts fix the shapes
    out.update(video=[torch.empty(0, dtype=torch.long)], view=[torch.empty(0, dtype=torch.long)])
    if with_head:
        out["probs"] = [torch.empty(0, encoder.classifier.num_classes)]
    views = loader.dataset.dataset.num_views
    lost, reasons = [], {}
    for _, batch in readable_batches(loader, views, lost, reasons, logger, desc):
        clips = normalize(batch[0].to(device, non_blocking=True))
        with autocast(device, amp_dtype):
            region, local = video_tokens(trunk, clips)
            logits = encoder.classifier(clips) if with_head else None
        out["region"].append(region.float().cpu())
        out["local"].append(local.float().cpu())
        out["video"].append(batch[2].long())
        out["view"].append(batch[3].long())
        if with_head:
            out["probs"].append(torch.softmax(logits.float(), dim=-1).cpu())
    items = {name: torch.cat(parts) for name, parts in out.items()}
    items["lost"] = torch.tensor(sorted(set(lost)), dtype=torch.long)
    return items, reasons


def average_views(items):
    """Per-video means of the item features, views summed in order: a dict with video (V,) ascending,
    num_views (V,) and every feature (V, ...), float32 numpy arrays; videos in items['lost'] are left out."""
    keep = ~torch.isin(items["video"], items["lost"])
    video, view = items["video"][keep], items["view"][keep]
    order = torch.from_numpy(np.lexsort((view.numpy(), video.numpy())))  # by video, then view
    videos, inverse, counts = torch.unique(video[order], return_inverse=True, return_counts=True)
    out = {"video": videos.numpy().astype(np.int64), "num_views": counts.numpy().astype(np.int64)}
    for name in FEATURE_ARRAYS:
        if name in items:
            x = items[name][keep][order].double()
            summed = torch.zeros((len(videos), *x.shape[1:]), dtype=torch.float64).index_add_(0, inverse, x)
            out[name] = (summed / counts.view(-1, *[1] * (x.ndim - 1))).float().numpy()
    return out


def test_dataset(annotation_file, input_shape, settings, sampling_rate):
    """The test pipeline (FinetuneDataset, mode 'test') for an encoder taking `input_shape` (3, T, S, S)."""
    _, num_frames, size, _ = input_shape
    return FinetuneDataset(
        annotation_file,
        "test",
        num_classes=None,
        data_root=settings.data_root,
        num_frames=num_frames,
        sampling_rate=sampling_rate,
        input_size=size,
        short_side_size=settings.short_side_size or size,
        test_num_segment=settings.test_num_segment,
        test_num_crop=settings.test_num_crop,
    )


def resolve_sampling_rate(settings, encoder):
    return settings.sampling_rate or encoder.args.get("sampling_rate") or 4


def _check_lost(dataset, lost, reasons, strict, desc):
    if len(lost) and strict:
        video = int(lost[0])
        reason = reasons.get(video, f"{dataset.samples[video].path}: cannot be read")
        raise DataLoadError(f"{desc}: {reason} ({len(lost)} unreadable videos; strict makes this an error)")


def features_in_memory(encoder, dataset, settings, device, amp_dtype=None, logger=None, desc="features"):
    """Per-video features of a test dataset, items shared across ranks and gathered (every rank gets all),
    with label and path; unreadable videos left out."""
    loader = build_loader(dataset, settings.batch_size, False, settings.num_workers, pin_memory=settings.pin_memory)
    items, reasons = item_features(encoder, loader, device, amp_dtype, settings.with_head, logger, desc)
    items = {name: all_gather_tensor(value) for name, value in items.items()}
    items["lost"] = torch.unique(items["lost"])
    _check_lost(dataset, items["lost"], reasons, settings.strict, desc)
    features = average_views(items)
    features["label"] = np.array([dataset.samples[v].label for v in features["video"]], dtype=np.int64)
    features["path"] = [dataset.samples[v].path for v in features["video"]]
    features["unreadable"] = [dataset.samples[v].path for v in items["lost"].tolist()]
    return features


# ---- the features folder ------------------------------------------------------------------------------------


def _file_digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def _shard_path(folder, index):
    return Path(folder) / f"shard_{index:05d}"


def _write_shard(folder, index, arrays):
    """All arrays of one shard into a temporary folder, then renamed: the shard exists whole or not at all."""

    def write(tmp):
        tmp.mkdir()
        for name, array in arrays.items():
            np.save(tmp / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)

    write_atomic(_shard_path(folder, index), write)


def _start_folder(folder, settings_record):
    """Rank 0: check or write features.json and clear temporary leftovers of a killed run."""
    meta_path = folder / "features.json"
    if meta_path.exists():
        previous = json.loads(meta_path.read_text()).get("settings", {})
        changed = sorted(k for k in settings_record if previous.get(k) != settings_record[k])
        if changed:
            raise FeatureError(
                f"{folder}: holds features made with other settings ({', '.join(changed)} differ); "
                "use another output folder or delete this one"
            )
    else:
        folder.mkdir(parents=True, exist_ok=True)
        meta_path.write_text(json.dumps({"settings": settings_record, "complete": False}, indent=1))
    for leftover in leftovers(folder, "shard_*"):
        remove(leftover)


def _compute_shard(encoder, dataset, videos, settings, device, amp_dtype, logger, index):
    """Features of the videos in range `videos`, computed whole on this rank."""
    items = range(videos.start * dataset.num_views, videos.stop * dataset.num_views)
    loader = DataLoader(
        LeaveOutUnreadable(dataset),
        batch_size=settings.batch_size,
        sampler=list(items),
        num_workers=settings.num_workers,
        pin_memory=settings.pin_memory and device.type == "cuda",
        collate_fn=collate_eval,
        worker_init_fn=_one_thread,
    )
    desc = f"shard {index}"
    found, reasons = item_features(encoder, loader, device, amp_dtype, settings.with_head, logger, desc)
    _check_lost(dataset, found["lost"], reasons, settings.strict, desc)
    features = average_views(found)
    features["label"] = np.array([dataset.samples[v].label for v in features["video"]], dtype=np.int64)
    features["unreadable"] = found["lost"].numpy().astype(np.int64)
    return features


def _one_thread(worker_id):
    torch.set_num_threads(1)  # workers decode; the main process keeps the cores for the model


def _write_index(folder, dataset, num_shards):
    """index.csv from the shards; returns (videos written, paths of the unreadable videos)."""
    rows, unreadable = [], []
    for shard in range(num_shards):
        path = _shard_path(folder, shard)
        videos, views = np.load(path / "video.npy"), np.load(path / "num_views.npy")
        for offset, (video, count) in enumerate(zip(videos.tolist(), views.tolist(), strict=True)):
            sample = dataset.samples[video]
            rows.append([len(rows), shard, offset, video, sample.path, sample.label, count])
        unreadable += [dataset.samples[v].path for v in np.load(path / "unreadable.npy").tolist()]

    def write(tmp):
        with open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["row", "shard", "offset", "video", "path", "label", "num_views"])
            writer.writerows(rows)

    write_atomic(folder / "index.csv", write)
    return len(rows), unreadable


def _settings_record(settings, encoder, annotation_file, sampling_rate):
    """What the numbers depend on; a resumed run must match it."""
    stat = Path(encoder.path).stat()
    record = {
        **asdict(settings),
        "sampling_rate": sampling_rate,
        "checkpoint": str(Path(encoder.path).resolve()),
        "checkpoint_bytes": stat.st_size,
        "checkpoint_mtime_ns": stat.st_mtime_ns,
        "annotation_file": str(Path(annotation_file).resolve()),
        "annotation_sha256": _file_digest(annotation_file),
        "input_shape": list(encoder.input_shape),
    }
    for numbers_unchanged in ("batch_size", "num_workers", "pin_memory", "strict"):
        record.pop(numbers_unchanged)
    return record


def extract_features(checkpoint, annotation_file, output_dir, settings=None, device="cpu", amp_dtype=None, logger=None):
    """Write (or finish) the features folder of `annotation_file` for `checkpoint` (a file, or an Encoder
    loaded from one); returns the folder. See the module docstring."""
    encoder = checkpoint if isinstance(checkpoint, Encoder) else encoder_from_checkpoint(checkpoint)
    settings = settings or FeatureSettings()
    device = torch.device(device)
    encoder.to(device)
    folder = Path(output_dir)
    if settings.with_head and encoder.classifier is None:
        raise FeatureError(f"{encoder.path}: is a pretraining checkpoint; --with_head needs a fine-tuned classifier")
    sampling_rate = resolve_sampling_rate(settings, encoder)
    dataset = test_dataset(annotation_file, encoder.input_shape, settings, sampling_rate)
    record = _settings_record(settings, encoder, annotation_file, sampling_rate)
    if is_main_process():
        _start_folder(folder, record)
    barrier()
    num_videos = len(dataset.samples)
    num_shards = -(-num_videos // settings.shard_size)
    for index in range(rank(), num_shards, world_size()):
        if not _shard_path(folder, index).exists():
            videos = range(index * settings.shard_size, min((index + 1) * settings.shard_size, num_videos))
            features = _compute_shard(encoder, dataset, videos, settings, device, amp_dtype, logger, index)
            _write_shard(folder, index, features)
    barrier()
    if is_main_process():
        written, unreadable = _write_index(folder, dataset, num_shards)
        if not written:
            raise DataLoadError(f"{annotation_file}: none of its {num_videos} videos could be read")
        first = _shard_path(folder, 0)
        shapes = {name: list(np.load(first / f"{name}.npy", mmap_mode="r").shape[1:]) for name in feature_names(first)}
        meta = {"settings": record, "complete": True, "num_videos": written, "num_annotated": num_videos}
        meta.update(num_shards=num_shards, shapes=shapes, unreadable=unreadable)
        (folder / "features.json").write_text(json.dumps(meta, indent=1))
        left_out = f"; {len(unreadable)} unreadable, left out: {', '.join(unreadable[:3])}" if unreadable else ""
        print(f"features of {written} of {num_videos} videos in {num_shards} shards: {folder}{left_out}")
    barrier()
    return folder


def feature_names(shard):
    """The per-video arrays of a shard folder (unreadable.npy lists the videos left out instead)."""
    return sorted(p.stem for p in Path(shard).glob("*.npy") if p.stem != "unreadable")


def load_features(folder):
    """A finished features folder as arrays in index order: region, local[, probs], label, video, num_views
    (numpy), path (list of str), and unreadable (paths of the videos left out)."""
    folder = Path(folder)
    meta_path = folder / "features.json"
    if not meta_path.exists():
        raise FeatureError(f"{folder}: holds no features.json (write it with extract_features.py)")
    meta = json.loads(meta_path.read_text())
    if not meta.get("complete") or not (folder / "index.csv").exists():
        raise FeatureError(f"{folder}: extraction did not finish; rerun the same extract_features.py command")
    arrays = {}
    for shard in range(meta["num_shards"]):
        path = _shard_path(folder, shard)
        for name in feature_names(path):
            arrays.setdefault(name, []).append(np.load(path / f"{name}.npy", allow_pickle=False))
    features = {name: np.concatenate(parts) for name, parts in arrays.items()}
    with open(folder / "index.csv", newline="") as f:
        features["path"] = [row["path"] for row in csv.DictReader(f)]
    features["unreadable"] = meta.get("unreadable", [])
    return features
