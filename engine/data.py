"""Data loaders for training and evaluation, single process or DDP, reproducible per epoch.

Every epoch's randomness (shuffling, augmentation in workers, mixup, dropout) is a function of
(seed, rank, epoch) only: `start_epoch` reseeds everything, so a resumed run repeats exactly the
epochs an uninterrupted run would have made.
"""

import random

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler, Sampler

from .distributed import rank, world_size


class ShardSampler(Sampler):
    """Evaluation sampler: rank r takes items r, r + W, ... without padding, so no item is seen twice."""

    def __init__(self, length):
        self.indices = list(range(rank(), length, world_size()))

    def __iter__(self):
        return iter(self.indices)

    def __len__(self):
        return len(self.indices)


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _seed_worker(worker_id):
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def build_loader(dataset, batch_size, train, num_workers=0, seed=0, pin_memory=False):
    """Train: shuffled, drop_last, DistributedSampler across ranks. Eval: ordered shards, keep all."""
    if train:
        sampler = DistributedSampler(dataset, num_replicas=world_size(), rank=rank(), shuffle=True, seed=seed)
    else:
        sampler = ShardSampler(len(dataset))
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        pin_memory=pin_memory,
        drop_last=train,
        worker_init_fn=_seed_worker,
        generator=torch.Generator(),
        persistent_workers=False,
    )


def start_epoch(loader, epoch, seed):
    """Reseed the main process, the workers' base seed and the shuffle for this epoch."""
    epoch_seed = seed + 1000 * epoch + rank()
    seed_everything(epoch_seed)
    loader.generator.manual_seed(epoch_seed)
    if isinstance(loader.sampler, DistributedSampler):
        loader.sampler.set_epoch(epoch)
