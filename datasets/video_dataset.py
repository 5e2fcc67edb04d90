"""Datasets: an annotation file in, (clip, target) items out.

Videos are uint8 (T, S, S, 3); `datasets.transforms.normalize` makes model input of a batch on the device.
PretrainDataset -> (video, mask bool (N,)), N = T/2 * (S/16)^2 tokens, True = masked.
FinetuneDataset -> train: (video, label, erase box (5,) for transforms.random_erase_); val: (video, label);
test: (video, label, video_index, view_index), one item per view (num_segment temporal clips x num_crop
spatial crops per video), so predictions average per video.
With num_sample N > 1 (VideoMAE V2's repeated augmentation, training only) a clip is decoded once and augmented N
times: every field gains a leading view axis, (N, ...), which engine.data's loader flattens into the batch.
The source is an annotation file or packed shards (datasets.shards), whichever `annotation_file` names, or a
list of datasets.annotations.Sample (a split carved from a file, datasets.val_split).

In training, a clip that cannot be read (corrupt, truncated, missing, fewer than `min_frames` frames) is
logged with its path, counted, and replaced by a random other item. When failures exceed `max_fail_fraction`
of the loads (and of the items, so one early failure is not 100 %), loading stops with DataLoadError. The
counters live in shared memory, so `dataset.failures` in the main process also counts what the DataLoader
workers saw. In val and test modes nothing is replaced: the VideoReadError reaches the caller, which leaves
the video out and reports it (engine.data, engine.evaluate).
"""

import logging
import random

import torch
from torch.utils.data import Dataset, get_worker_info

from datasets.annotations import read_annotations
from datasets.masking import check_lgi_masking, make_mask_generator
from datasets.sampling import center_indices, pretrain_indices, test_indices, train_indices
from datasets.shards import PackedClip, ShardReader, is_shards
from datasets.transforms import EvalTransform, PretrainTransform, TrainTransform
from datasets.video_io import VideoReadError, open_video

logger = logging.getLogger(__name__)

MAX_REPLACEMENTS = 20


class DataLoadError(RuntimeError):
    """Too many clips failed to load."""


class LoadFailures:
    """Shared load and failure counts, one slot per DataLoader worker (slot 0: the main process)."""

    def __init__(self, dataset_size, max_fraction, slots=64):
        self.dataset_size = dataset_size
        self.max_fraction = max_fraction
        self.counts = torch.zeros(slots, 2, dtype=torch.int64).share_memory_()  # (slot, [loads, failures])

    def _slot(self):
        info = get_worker_info()
        return 0 if info is None else 1 + info.id % (len(self.counts) - 1)

    @property
    def loads(self):
        return int(self.counts[:, 0].sum())

    @property
    def count(self):
        return int(self.counts[:, 1].sum())

    def success(self):
        self.counts[self._slot(), 0] += 1

    def failure(self, error):
        self.counts[self._slot()] += 1
        loads, count = self.loads, self.count
        logger.warning("load failure %d of %d loads, item replaced: %s", count, loads, error)
        if count > self.max_fraction * max(loads, self.dataset_size):
            raise DataLoadError(
                f"{count} of {loads} clip loads failed, more than max_fail_fraction={self.max_fraction} "
                f"(dataset of {self.dataset_size}); last: {error}"
            )


class _ClipDataset(Dataset):
    """Clips from an annotation file or packed shards (datasets.shards: a folder or an object-store URL), frame
    reading, and replacement of unreadable items; subclasses define _load."""

    def __init__(self, annotation_file, data_root, num_classes, min_frames, replace_unreadable=True, num_sample=1):
        if isinstance(annotation_file, list):
            self.samples = annotation_file
        elif is_shards(annotation_file):
            self.samples = ShardReader(annotation_file)
        else:
            self.samples = read_annotations(annotation_file, data_root, num_classes)
        self.min_frames = min_frames
        self.replace_unreadable = replace_unreadable
        if num_sample < 1:
            raise ValueError(f"num_sample must be at least 1, got {num_sample}")
        self.num_sample = num_sample

    def _open(self, video_index):
        """(clip source with len() and read(indices), label) of a listed or packed clip."""
        sample = self.samples[video_index]
        if isinstance(sample, dict):
            return PackedClip(sample), sample["label"]
        return open_video(sample.path), sample.label

    def _read(self, video, pick):
        """Frames pick(L) of a clip source with L frames, (T, H, W, 3) uint8."""
        if len(video) < self.min_frames:
            raise VideoReadError(video.path, f"{len(video)} frames, fewer than min_frames={self.min_frames}")
        return video.read(pick(len(video)))

    def _views(self, augment):
        """augment() once (num_sample 1), or num_sample times with each output stacked: (N, ...) per field."""
        if self.num_sample == 1:
            return augment()
        views = [augment() for _ in range(self.num_sample)]
        return tuple(torch.stack([torch.as_tensor(v[k]) for v in views]) for k in range(len(views[0])))

    def __getitem__(self, index):
        if not self.replace_unreadable:
            return self._load(index)
        for _ in range(MAX_REPLACEMENTS):
            try:
                item = self._load(index)
            except VideoReadError as error:
                self.failures.failure(error)
                index = (index + 1 + random.randrange(max(len(self) - 1, 1))) % len(self)  # any other item
                continue
            self.failures.success()
            return item
        raise DataLoadError(f"{MAX_REPLACEMENTS} replacement items in a row failed to load")


class PretrainDataset(_ClipDataset):
    """Unlabelled clips for MAE pretraining: T frames at stride `sampling_rate`, multi-scale crop, mask.

    `lgi_region_size` (e.g. (2, 5, 10)) asserts at construction that every mask groups into LGI regions.
    `voxceleb2_crop` keeps the top-centre input_size square of each frame first (VoxCeleb2's face box);
    `augment=False` takes the whole frame instead of a multi-scale crop (upstream's --no_augmentation).
    """

    def __init__(
        self,
        annotation_file,
        data_root=None,
        num_frames=16,
        sampling_rate=4,
        input_size=160,
        mask_type="part_window",
        mask_ratio=0.9,
        window_size=(5, 10),
        voxceleb2_crop=False,
        augment=True,
        max_fail_fraction=0.05,
        tubelet_size=2,
        patch_size=16,
        lgi_region_size=None,
        min_frames=1,
        num_sample=1,
    ):
        super().__init__(annotation_file, data_root, None, min_frames, num_sample=num_sample)
        self.num_frames = num_frames
        self.sampling_rate = sampling_rate
        self.grid_size = (num_frames // tubelet_size, input_size // patch_size, input_size // patch_size)
        if lgi_region_size is not None:
            check_lgi_masking(mask_type, self.grid_size, window_size, lgi_region_size)
        self.mask_generator = make_mask_generator(mask_type, self.grid_size, mask_ratio, window_size)
        self.transform = PretrainTransform(input_size, voxceleb2_crop, augment)
        self.failures = LoadFailures(len(self), max_fail_fraction)

    def __len__(self):
        return len(self.samples)

    def _load(self, index):
        video, _ = self._open(index)
        frames = self._read(video, lambda n: pretrain_indices(n, self.num_frames, self.sampling_rate))
        return self._views(lambda: (self.transform(frames), torch.from_numpy(self.mask_generator())))


class FinetuneDataset(_ClipDataset):
    """Labelled clips. mode 'train': random clip, full augmentation; 'val': the centre clip, centre crop
    (upstream samples validation clips at random: pass random_val_clip=True); 'test': every video
    test_num_segment x test_num_crop times, one view per item. RandAugment's geometric ops resample
    bilinearly; aa_interpolation="bicubic" is upstream's choice, at about twice the cost. crop_scale is the
    area range of the training crop (upstream's 8-100 %; a small crop can cut the brows or the mouth away)."""

    def __init__(
        self,
        annotation_file,
        mode,
        num_classes,
        data_root=None,
        num_frames=16,
        sampling_rate=4,
        input_size=160,
        short_side_size=160,
        test_num_segment=2,
        test_num_crop=2,
        aa="rand-m7-n4-mstd0.5-inc1",
        reprob=0.25,
        aa_interpolation="bilinear",
        crop_scale=(0.08, 1.0),
        random_val_clip=False,
        max_fail_fraction=0.05,
        min_frames=1,
        num_sample=1,
    ):
        if mode not in ("train", "val", "test"):
            raise ValueError(f"mode must be 'train', 'val' or 'test', got {mode!r}")
        if num_sample > 1 and mode != "train":
            raise ValueError(f"num_sample={num_sample} repeats training augmentation only, not mode {mode!r}")
        train = mode == "train"
        super().__init__(
            annotation_file, data_root, num_classes, min_frames, replace_unreadable=train, num_sample=num_sample
        )
        self.mode = mode
        self.num_frames = num_frames
        self.sampling_rate = sampling_rate
        self.random_val_clip = random_val_clip
        self.num_segments = test_num_segment if mode == "test" else 1
        self.num_crops = test_num_crop if mode == "test" else 1
        if mode == "train":
            self.transform = TrainTransform(input_size, aa, reprob, crop_scale, aa_interpolation=aa_interpolation)
        else:
            self.transform = EvalTransform(input_size, short_side_size, self.num_crops)
        self.failures = LoadFailures(len(self), max_fail_fraction)

    @property
    def num_views(self):
        return self.num_segments * self.num_crops

    def __len__(self):
        return len(self.samples) * self.num_views

    def _load(self, index):
        video_index, view_index = divmod(index, self.num_views)
        video, label = self._open(video_index)
        if self.mode == "test":
            segment, crop = divmod(view_index, self.num_crops)
            frames = self._read(
                video, lambda n: test_indices(n, self.num_frames, self.sampling_rate, self.num_segments)[segment]
            )
            return self.transform(frames, crop), label, video_index, view_index
        random_clip = self.mode == "train" or self.random_val_clip
        sampler = train_indices if random_clip else center_indices
        frames = self._read(video, lambda n: sampler(n, self.num_frames, self.sampling_rate))
        if self.mode == "train":

            def augment():
                clip, erase = self.transform(frames)
                return clip, label, erase

            return self._views(augment)
        return self.transform(frames), label
