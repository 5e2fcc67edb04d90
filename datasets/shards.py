"""Packed shards: clips stored as LitData chunks, read by global index from a local folder or object storage.

One sample per clip, a dict:
    index        its line order in the packed annotation list (0-based, unreadable clips left out)
    path         the clip's path as the annotation file resolved it
    label        int
    frame_sizes  int32 little-endian byte length of each JPEG frame, (L,)
    frames       the L JPEG frames, concatenated
so a reader slices out and decodes only the frames a clip sampler asks for. The frames are stored whole (every
frame offset stays drawable), at the size `preprocess.pack_shards` chose (docs/data_pipeline.md).

LitData is imported here only, when shards are opened: a user of annotation lists never needs it.
"""

import os

import cv2
import numpy as np

from datasets.video_io import VideoReadError, _check_indices, _gather

INDEX_FILE = "index.json"


def is_shards(path):
    """An object-store URL (s3://, gs://, ...) or a local folder holding a LitData index.json."""
    path = str(path)
    return "://" in path or os.path.isfile(os.path.join(path, INDEX_FILE))


def encode_frames(frames, quality=95):
    """(L, H, W, 3) uint8 RGB -> (frame_sizes bytes, frames bytes): one JPEG per frame (OpenCV, 4:2:0)."""
    encoded = []
    for frame in frames:
        ok, jpeg = cv2.imencode(".jpg", frame[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise ValueError("OpenCV could not encode a frame as JPEG")
        encoded.append(jpeg.tobytes())
    sizes = np.array([len(j) for j in encoded], dtype="<i4")
    return sizes.tobytes(), b"".join(encoded)


class PackedClip:
    """One packed sample as a clip source: len() frames, read(indices) -> (T, H, W, 3) uint8 RGB."""

    def __init__(self, sample):
        self.path = sample["path"]
        self.blob = sample["frames"]
        sizes = np.frombuffer(sample["frame_sizes"], dtype="<i4")
        self.ends = np.cumsum(sizes)  # byte end of each frame
        self.starts = self.ends - sizes

    def __len__(self):
        return len(self.ends)

    def _decode(self, index):
        """torchcodec's JPEG decoder (FFmpeg-free): OpenCV's pixels at 15 % less CPU (bench.bench_decoders)."""
        from torchcodec.decoders import decode_jpeg

        try:
            frame = decode_jpeg(self.blob[self.starts[index] : self.ends[index]])  # (3, H, W) RGB
        except RuntimeError as err:
            raise VideoReadError(
                self.path, f"packed frame {index} cannot be decoded ({str(err).split(', ')[-1]})"
            ) from None
        return frame.permute(1, 2, 0).numpy()  # (H, W, 3)

    def read(self, indices):
        indices = _check_indices(self.path, indices, len(self))
        return _gather(indices, lambda wanted: [self._decode(i) for i in wanted])


class ShardReader:
    """Samples of a packed dataset by global index, for DataLoader workers: each process opens its own LitData
    reader on first use (local folders are read in place; URLs through LitData's on-demand byte ranges, with
    `cache_dir` for the index). len() comes from the index alone."""

    def __init__(self, location, cache_dir=None):
        self.location = str(location)
        self.cache_dir = cache_dir
        self._dataset, self._pid = None, None
        try:
            dataset = self._open()
        except Exception as err:  # litdata raises ValueError, FileNotFoundError, botocore errors ...
            raise ValueError(f"{self.location}: cannot open packed shards ({' '.join(str(err).split())})") from None
        self.length = sum(end - start for start, end in dataset.region_of_interest)
        if self.length == 0:
            raise ValueError(f"{self.location}: the packed shards hold no clips")

    def _open(self):
        from litdata import StreamingDataset

        if self._pid != os.getpid():  # forked into a worker: a reader (and its connections) of its own
            self._dataset = StreamingDataset(self.location, cache_dir=self.cache_dir, drop_last=False)
            self._pid = os.getpid()
        return self._dataset

    def __getstate__(self):
        return {**self.__dict__, "_dataset": None, "_pid": None}

    def __len__(self):
        return self.length

    def __getitem__(self, index):
        """The sample dict of clip `index` (see the module docstring)."""
        return self._open()[int(index)]
