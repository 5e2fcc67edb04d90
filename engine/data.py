"""Data loaders for training and evaluation, single process or DDP, reproducible per epoch.

Randomness is a function of where it is used, never of process history:
- augmentation of a clip depends on (seed, epoch, dataset index) only, whichever rank or worker loads
  it, so 1 process with batch 2B and 2 processes with batch B see the same clips;
- shuffling, mixup and dropout depend on (seed, epoch, rank): `start_epoch` reseeds them.
So a resumed run repeats exactly the epochs an uninterrupted run would have made.
"""

import random

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from .distributed import rank, world_size


class ShardSampler(Sampler):
    """Evaluation sampler: rank r takes items r, r + W, ... without padding, so no item is seen twice."""

    def __init__(self, length):
        self.indices = list(range(rank(), length, world_size()))

    def __iter__(self):
        return iter(self.indices)

    def __len__(self):
        return len(self.indices)


class SeededDataset(Dataset):
    """Seeds python, numpy and torch from (seed, epoch, index) before loading each item."""

    def __init__(self, dataset, seed=0):
        self.dataset = dataset
        self.seed = seed
        self.epoch = 0

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        seed_everything(int(np.random.SeedSequence([self.seed, self.epoch, index]).generate_state(1)[0]))
        return self.dataset[index]


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _seed_worker(worker_id):
    torch.set_num_threads(1)  # workers decode and augment; the main process keeps the cores for the model
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def build_loader(dataset, batch_size, train, num_workers=0, seed=0, pin_memory=False):
    """Train: shuffled, drop_last, DistributedSampler across ranks. Eval: ordered shards, keep all."""
    if train:
        dataset = SeededDataset(dataset, seed)
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
    if isinstance(loader.dataset, SeededDataset):
        loader.dataset.epoch = epoch
