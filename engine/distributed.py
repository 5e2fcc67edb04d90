"""Every torch.distributed call of the project. Each helper also works in a single plain process.

Launch with `torchrun --nproc_per_node=N run_finetuning.py ...` (single or multi node): torchrun sets
RANK, WORLD_SIZE and LOCAL_RANK. NCCL on GPUs, gloo on CPU.
"""

import builtins
import os

import torch
import torch.distributed as dist


def is_distributed():
    return dist.is_available() and dist.is_initialized()


def rank():
    return dist.get_rank() if is_distributed() else 0


def world_size():
    return dist.get_world_size() if is_distributed() else 1


def is_main_process():
    return rank() == 0


def unwrap(model):
    """The module inside a DistributedDataParallel (or EMA) wrapper."""
    return model.module if hasattr(model, "module") else model


def init_distributed(device="cuda"):
    """Join the process group when launched by torchrun; returns the device this rank uses."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return torch.device(device if device != "cuda" or torch.cuda.is_available() else "cpu")
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    use_cuda = device.startswith("cuda") and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    if not is_main_process():
        _silence_print()
    return torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")


def _silence_print():
    """Only rank 0 prints; `print(..., force=True)` still prints everywhere."""
    original = builtins.print

    def print_main(*args, force=False, **kwargs):
        if force:
            original(*args, **kwargs)

    builtins.print = print_main


def wrap_ddp(model, device):
    """DistributedDataParallel around the model when running under torchrun, else the model itself."""
    if not is_distributed():
        return model
    return torch.nn.parallel.DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None
    )


def cleanup():
    if is_distributed():
        dist.destroy_process_group()


def barrier():
    if is_distributed():
        dist.barrier()


def all_reduce_mean(value):
    """Mean of a float over ranks."""
    if not is_distributed():
        return float(value)
    tensor = torch.tensor([float(value)], dtype=torch.float64, device=_collective_device())
    dist.all_reduce(tensor)
    return tensor.item() / world_size()


def all_reduce_sum(tensor):
    """Sum of a tensor over ranks (returns a new tensor)."""
    if not is_distributed():
        return tensor.clone()
    out = tensor.to(_collective_device()).clone()
    dist.all_reduce(out)
    return out.to(tensor.device)


def all_gather_tensor(tensor):
    """Concatenate along dim 0 the tensors of every rank; they may differ in length."""
    if not is_distributed():
        return tensor
    device = _collective_device()
    local = tensor.to(device)
    sizes = [torch.zeros(1, dtype=torch.long, device=device) for _ in range(world_size())]
    dist.all_gather(sizes, torch.tensor([local.shape[0]], device=device))
    longest = max(int(s) for s in sizes)
    padded = torch.zeros((longest, *local.shape[1:]), dtype=local.dtype, device=device)
    padded[: local.shape[0]] = local
    gathered = [torch.zeros_like(padded) for _ in range(world_size())]
    dist.all_gather(gathered, padded)
    return torch.cat([g[: int(s)] for g, s in zip(gathered, sizes, strict=True)]).to(tensor.device)


def broadcast_object(obj):
    """Rank 0's object on every rank."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def _collective_device():
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
