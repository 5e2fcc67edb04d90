"""Data loaders for training and evaluation, single process or DDP, reproducible per epoch.

Randomness is a function of where it is used, never of process history:
- augmentation of a clip depends on (seed, epoch, dataset index) only, whichever rank or worker loads
  it, so 1 process with batch 2B and 2 processes with batch B see the same clips;
- shuffling, mixup and dropout depend on (seed, epoch, rank): `start_epoch` reseeds them.
So a resumed run repeats exactly the epochs an uninterrupted run would have made, and one resumed in the middle
of an epoch (`start_epoch(..., skip_batches=k)`) loads exactly the batches the uninterrupted run loaded after its
k-th. With num_sample N > 1 a dataset item holds N views, flattened into the batch (B clips -> B * N items).

Evaluation batches are (item indices, the readable items collated or None, [(index, reason) of unreadable
items]): evaluation leaves an unreadable clip out and reports it, where training replaces it.
"""

import itertools
import random

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler, default_collate

from datasets.video_io import VideoReadError

from .distributed import rank, world_size


class ShardSampler(Sampler):
    """Evaluation sampler: rank r takes items r, r + W, ... without padding, so no item is seen twice."""

    def __init__(self, length):
        self.indices = list(range(rank(), length, world_size()))

    def __iter__(self):
        return iter(self.indices)

    def __len__(self):
        return len(self.indices)


class ResumableSampler(Sampler):
    """DistributedSampler's order for the epoch, from batch `skip_batches` on (set by start_epoch)."""

    def __init__(self, sampler, batch_size):
        self.sampler = sampler
        self.batch_size = batch_size
        self.skip_batches = 0

    def set_epoch(self, epoch, skip_batches=0):
        self.sampler.set_epoch(epoch)
        self.skip_batches = skip_batches

    def __iter__(self):
        return itertools.islice(iter(self.sampler), self.skip_batches * self.batch_size, None)

    def __len__(self):
        return max(len(self.sampler) - self.skip_batches * self.batch_size, 0)


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


class LeaveOutUnreadable(Dataset):
    """Evaluation items as (index, item, None), or (index, None, reason) for a clip that cannot be read."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        try:
            return index, self.dataset[index], None
        except VideoReadError as error:
            return index, None, str(error)


def collate_eval(items):
    """(indices of the readable items, those items collated or None, [(index, reason) of unreadable items])."""
    readable = [(index, item) for index, item, _ in items if item is not None]
    unreadable = [(index, reason) for index, item, reason in items if item is None]
    indices = torch.tensor([index for index, _ in readable], dtype=torch.long)
    return indices, default_collate([item for _, item in readable]) if readable else None, unreadable


def collate_views(items):
    """Items of N stacked views each, (N, ...) per field -> a batch of B * N items."""
    return [field.flatten(0, 1) for field in default_collate(items)]


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
    """Train: shuffled, drop_last, DistributedSampler across ranks. Eval: ordered shards, keep all, unreadable
    clips left out (collate_eval). Memory is pinned only where there is a GPU to copy to."""
    collate = collate_views if getattr(dataset, "num_sample", 1) > 1 else None
    if train:
        dataset = SeededDataset(dataset, seed)
        shuffled = DistributedSampler(dataset, num_replicas=world_size(), rank=rank(), shuffle=True, seed=seed)
        sampler = ResumableSampler(shuffled, batch_size)
    else:
        dataset = LeaveOutUnreadable(dataset)
        sampler = ShardSampler(len(dataset))
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        pin_memory=pin_memory and torch.cuda.is_available(),
        collate_fn=collate if train else collate_eval,
        drop_last=train,
        worker_init_fn=_seed_worker,
        generator=torch.Generator(),
        persistent_workers=False,
    )


def start_epoch(loader, epoch, seed, skip_batches=0):
    """Reseed the main process, the workers' base seed and the shuffle for this epoch; a run resumed in the
    middle of the epoch skips the `skip_batches` batches it trained on before."""
    epoch_seed = seed + 1000 * epoch + rank()
    seed_everything(epoch_seed)
    loader.generator.manual_seed(epoch_seed)
    if isinstance(loader.sampler, ResumableSampler):
        loader.sampler.set_epoch(epoch, skip_batches)
    if isinstance(loader.dataset, SeededDataset):
        loader.dataset.epoch = epoch
