"""Training checkpoints: the one writer, a TrainState (engine.train) saved and restored whole, and auto-resume.
(models/checkpoint.py reads any checkpoint into a model; inference/checkpoints.py picks the demo's default model.)

Files keep the upstream layout ({'model', 'optimizer', 'epoch', 'scaler', 'args'}, plus 'model_ema')
and add 'model_config' so a model can be rebuilt from its file alone; fine-tuning adds 'best' (the best
validation score so far and its epoch), which a resumed run restores. Writes are atomic
(system.files.write_atomic): a temporary file in the same folder, flushed to disk, then renamed over the target,
so an interrupted save never leaves a broken checkpoint behind. With --save_every_steps, checkpoint-step.pth is
written inside an epoch: its 'epoch' is the last finished one and 'progress' says how far the next got
(engine.train.EpochProgress); auto-resume takes it when it is newer than every checkpoint-N.pth.
"""

import errno
import re
import shutil
from pathlib import Path

import torch

from models import CheckpointError, read_checkpoint
from system.files import leftovers, remove, write_atomic

from .distributed import is_main_process, unwrap
from .train import EpochProgress


def save_checkpoint(path, model, epoch, optimizer=None, scaler=None, args=None, model_ema=None, extra=None):
    """Write on rank 0 only; returns the path."""
    if not is_main_process():
        return path
    path = Path(path)
    model = unwrap(model)
    payload = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "epoch": epoch,
        "scaler": scaler.state_dict() if scaler is not None else None,
        "args": args,
        "model_config": getattr(model, "model_config", None),
    }
    if model_ema is not None:
        payload["model_ema"] = unwrap(model_ema).state_dict()
    payload.update(extra or {})
    atomic_save(payload, path)
    return path


def atomic_save(obj, path):
    """torch.save through system.files.write_atomic; a full disk is a one-line CheckpointError naming the file,
    the bytes it needs and the space left (the files already written stay as they were)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def write(tmp):
        with open(tmp, "wb") as f:
            torch.save(obj, f)

    try:
        write_atomic(path, write)
    except (OSError, RuntimeError) as err:
        needed, free = tensor_bytes(obj), shutil.disk_usage(path.parent).free
        if getattr(err, "errno", None) == errno.ENOSPC or free < needed:
            raise CheckpointError(
                f"{path}: no space left to write the checkpoint: it needs about {needed:,} bytes, "
                f"{free:,} are free on its disk; the checkpoints already written are intact and a rerun resumes "
                "from the newest one"
            ) from None
        raise


def tensor_bytes(obj):
    """Bytes of the tensors inside nested dicts, lists and tuples: about a checkpoint's size on disk."""
    if isinstance(obj, torch.Tensor):
        return obj.nelement() * obj.element_size()
    if isinstance(obj, dict):
        return sum(tensor_bytes(v) for v in obj.values())
    if isinstance(obj, list | tuple):
        return sum(tensor_bytes(v) for v in obj)
    return 0


def numbered_checkpoints(output_dir):
    """checkpoint-N.pth files in the folder, newest first."""
    found = []
    for p in Path(output_dir).glob("checkpoint-*.pth"):
        match = re.fullmatch(r"checkpoint-(\d+)\.pth", p.name)
        if match:
            found.append((int(match.group(1)), p))
    return [p for _, p in sorted(found, reverse=True)]


def latest_valid_checkpoint(output_dir):
    """Newest checkpoint-N.pth that opens; unreadable ones are reported and skipped."""
    for path in numbered_checkpoints(output_dir):
        try:
            return path, read_checkpoint(path)
        except CheckpointError as err:
            print(f"skipping unreadable checkpoint: {err}")
    return None, None


def restore(checkpoint, state):
    """Load a training checkpoint into its TrainState (engine.train); returns the epoch to start from."""
    unwrap(state.model).load_state_dict(checkpoint["model"])
    if state.optimizer is not None and checkpoint.get("optimizer"):
        state.optimizer.load_state_dict(checkpoint["optimizer"])
    if state.scaler is not None and checkpoint.get("scaler"):
        state.scaler.load_state_dict(checkpoint["scaler"])
    if state.model_ema is not None and "model_ema" in checkpoint:
        unwrap(state.model_ema).load_state_dict(checkpoint["model_ema"])
    state.best = checkpoint.get("best", state.best)
    state.progress = EpochProgress(**checkpoint["progress"]) if "progress" in checkpoint else None
    epoch = checkpoint.get("epoch")
    return epoch + 1 if isinstance(epoch, int) else 0


def save_state(path, state, epoch, extra=None):
    """A TrainState as a checkpoint (rank 0), with its best score when it keeps one."""
    extra = {**({"best": state.best} if state.best is not None else {}), **(extra or {})}
    return save_checkpoint(path, state.model, epoch, state.optimizer, state.scaler, state.args, state.model_ema, extra)


def save_epoch_checkpoint(output_dir, epoch, keep_every, state):
    """checkpoint-{epoch}.pth after every epoch, so a crash loses at most one epoch; older files are
    removed once the new one is safely on disk, except every `keep_every`-th (upstream's save_ckpt_freq)."""
    path = save_state(Path(output_dir) / f"checkpoint-{epoch}.pth", state, epoch)
    if is_main_process():
        for old in numbered_checkpoints(output_dir)[1:]:
            number = int(old.stem.split("-")[1])
            if (number + 1) % keep_every != 0:
                old.unlink(missing_ok=True)
        (Path(output_dir) / STEP_CHECKPOINT).unlink(missing_ok=True)  # older than the new epoch checkpoint
    return path


STEP_CHECKPOINT = "checkpoint-step.pth"


def save_step_checkpoint(output_dir, state, progress):
    """checkpoint-step.pth in the middle of epoch progress.epoch (an engine.train.EpochProgress)."""
    path = Path(output_dir) / STEP_CHECKPOINT
    return save_state(path, state, progress.epoch - 1, {"progress": vars(progress)})


def newest_step_checkpoint(output_dir, checkpoint):
    """(path, checkpoint-step.pth) when it is readable and newer than `checkpoint` (the newest checkpoint-N.pth,
    or None), else (None, None)."""
    path = Path(output_dir) / STEP_CHECKPOINT
    if not path.exists():
        return None, None
    try:
        step = read_checkpoint(path)
    except CheckpointError as err:
        print(f"skipping unreadable checkpoint: {err}")
        return None, None
    if checkpoint is None or step["progress"]["epoch"] > checkpoint["epoch"]:
        return path, step
    return None, None


def remove_partial_saves(output_dir):
    """Delete the temporary files of saves a killed process left unfinished (rank 0)."""
    if is_main_process():
        for tmp in leftovers(output_dir, "checkpoint-*.pth"):
            remove(tmp)


def resume_training(resume, output_dir, auto_resume, state):
    """Load `resume`, or with auto_resume the newest readable checkpoint-N.pth (or a newer checkpoint-step.pth) of
    output_dir, into `state`. Returns (epoch to start from, the checkpoint's other entries (epoch, args, extras) or
    None)."""
    if output_dir:
        remove_partial_saves(output_dir)
    path, checkpoint = None, None
    if resume:
        path, checkpoint = resume, read_checkpoint(resume)
    elif output_dir and auto_resume:
        path, checkpoint = latest_valid_checkpoint(output_dir)
        step_path, step = newest_step_checkpoint(output_dir, checkpoint)
        if step is not None:
            path, checkpoint = step_path, step
    if checkpoint is None:
        return 0, None
    start = restore(checkpoint, state)
    within = f" after its batch {checkpoint['progress']['batches']}" if "progress" in checkpoint else ""
    print(f"resumed from {path}, next epoch {start}{within}")
    return start, {k: v for k, v in checkpoint.items() if k not in ("model", "optimizer", "scaler", "model_ema")}


def export_weights(src, dst):
    """A copy of checkpoint `src` for sharing: model weights, model_config, args and epoch, without the
    optimizer and scaler state (a third of the size of an AdamW training checkpoint)."""
    checkpoint = read_checkpoint(src)
    keep = ("model", "epoch", "args", "model_config")
    atomic_save({k: checkpoint[k] for k in keep if k in checkpoint}, dst)
    return Path(dst)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Export a checkpoint's weights, config and args (no optimizer).")
    parser.add_argument("src")
    parser.add_argument("dst")
    args = parser.parse_args()
    try:
        path = export_weights(args.src, args.dst)
    except CheckpointError as err:
        raise SystemExit(f"error: {err}") from None
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
