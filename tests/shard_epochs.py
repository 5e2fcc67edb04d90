"""Run under torchrun by tests/test_shards.py: the clip paths each rank's training loader fetches in epochs 0 and 1
of packed shards (argv[1]), with batch 2 and one DataLoader worker, printed by rank 0 as JSON
[[paths of epoch 0 per rank], [paths of epoch 1 per rank]]."""

import json
import sys

import torch.distributed

from datasets.video_dataset import PretrainDataset
from engine import distributed as dist
from engine.data import build_loader, start_epoch

dist.init_distributed("cpu")
dataset = PretrainDataset(sys.argv[1], num_frames=4, sampling_rate=1, input_size=32, window_size=(1, 2))
loader = build_loader(dataset, 2, True, num_workers=1, seed=0)
epochs = []
for epoch in range(2):
    start_epoch(loader, epoch, 0)
    fetched = [dataset.samples[i]["path"] for batch in loader.batch_sampler for i in batch]
    videos, masks = next(iter(loader))  # the loader itself reads from the shards in its worker
    assert videos.shape == (2, 4, 32, 32, 3)
    ranks = [None] * dist.world_size()
    torch.distributed.all_gather_object(ranks, fetched)
    epochs.append(ranks)
print(json.dumps(epochs))
dist.cleanup()
