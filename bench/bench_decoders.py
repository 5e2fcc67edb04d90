"""Which decoder a pretraining item should use: clips/s per core and exactness of every candidate, one thread.

A clip is what PretrainDataset decodes: 16 frames at stride 4 (datasets.sampling.pretrain_indices) of a generated
DFEW-shaped face video (--frames frames of --size x --size), opened and read as the pipeline does, item by item.
- mp4 path (H.264): PyAV (sequential), decord (random access), OpenCV (sequential), torchcodec (exact and
  approximate seek modes), each held to one thread;
- packed path (datasets.shards: the same frames as JPEG q95): OpenCV's imdecode (+ BGR to RGB, or decoding to RGB
  directly), Pillow, torchvision.io.decode_jpeg, torchcodec's decode_jpeg.
Rates are CPU time of this process (process_time: every thread counts), best of --repeats passes.

Exactness, video: every candidate reads, from an H.264 mp4 and an H.264 AVI of 150 frames (B-frames, one
keyframe), frames in random order past frame 128 (where decord's AVI seeking fails), and is compared with PyAV
decoding the whole file front to back: "exact" when equal, else the largest grey-level difference and how many
frames are closer to another frame of the reference than to the one asked for (wrong frames). JPEG: every
decoder against OpenCV's.

    python -m bench.bench_decoders [--clips 16] [--frames 64] [--size 256] [--repeats 3]
"""

import argparse
import io
import os
import tempfile

import av
import cv2
import numpy as np
import torch
import torchvision
from PIL import Image

from bench.common import best_rate
from datasets.sampling import pretrain_indices
from datasets.shards import encode_frames
from datasets.synthetic import render_clip
from datasets.video_io import VideoFile, write_video

ASKED = [140, 3, 77, 133, 3, 0, 149, 64, 101, 129]  # unsorted, a repeat, past frame 128


def torchcodec_file(seek_mode):
    """torchcodec as a clip source: frame count from its index, frames at the asked indices, NHWC."""
    from torchcodec.decoders import VideoDecoder

    class TorchCodecFile:
        def __init__(self, path):
            self.decoder = VideoDecoder(path, num_ffmpeg_threads=1, dimension_order="NHWC", seek_mode=seek_mode)

        def __len__(self):
            return len(self.decoder)

        def read(self, indices):
            return self.decoder.get_frames_at([int(i) for i in indices]).data.numpy()

    return TorchCodecFile


class DecordFile:
    """decord's random access in every container (video_io uses it in mp4/mov/m4v only)."""

    def __init__(self, path):
        import decord

        self.reader = decord.VideoReader(path, num_threads=1)

    def __len__(self):
        return len(self.reader)

    def read(self, indices):
        return self.reader.get_batch([int(i) for i in indices]).asnumpy()


VIDEO_DECODERS = {
    "PyAV, sequential": lambda path: VideoFile(path, ("pyav",)),
    "decord, random access": DecordFile,
    "OpenCV, sequential": lambda path: VideoFile(path, ("opencv",)),
    "torchcodec, exact seek mode": lambda path: torchcodec_file("exact")(path),
    "torchcodec, approximate seek mode": lambda path: torchcodec_file("approximate")(path),
}


def torchcodec_jpeg(jpeg):
    from torchcodec.decoders import decode_jpeg

    return decode_jpeg(torch.from_numpy(jpeg.copy())).permute(1, 2, 0).numpy()


JPEG_DECODERS = {
    "OpenCV imdecode + BGR to RGB": lambda jpeg: cv2.cvtColor(
        cv2.imdecode(jpeg, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB
    ),  # fmt: skip
    "OpenCV imdecode to RGB": lambda jpeg: cv2.imdecode(jpeg, cv2.IMREAD_COLOR_RGB),
    "Pillow": lambda jpeg: np.asarray(Image.open(io.BytesIO(jpeg.tobytes())).convert("RGB")),
    "torchvision.io.decode_jpeg": lambda jpeg: (
        torchvision.io.decode_jpeg(torch.from_numpy(jpeg.copy())).permute(1, 2, 0).numpy()
    ),  # fmt: skip
    "torchcodec decode_jpeg": torchcodec_jpeg,
}


def read_packed(sample, indices, decode):
    """Frames `indices` of a packed sample (datasets.shards layout), each JPEG decoded by `decode`."""
    sizes = np.frombuffer(sample["frame_sizes"], dtype="<i4")
    ends = np.cumsum(sizes)
    blob = np.frombuffer(sample["frames"], np.uint8)
    wanted, inverse = np.unique(indices, return_inverse=True)
    frames = [decode(blob[ends[i] - sizes[i] : ends[i]]) for i in wanted]
    return np.stack([frames[i] for i in inverse])  # (T, H, W, 3)


def pretrain_read(open_clip):
    def read(path):
        video = open_clip(path)
        return video.read(pretrain_indices(len(video), 16, 4))

    return read


def compare(frames, reference, asked):
    """'exact', or the largest grey-level difference and the number of frames nearer another reference frame."""
    frames, reference = np.asarray(frames).astype(np.int16), reference.astype(np.int16)
    if np.array_equal(frames, reference[asked]):
        return "exact"
    distance = np.abs(frames[:, None] - reference[None]).mean(axis=(2, 3, 4))  # (asked, reference frames)
    wrong = int((distance.argmin(axis=1) != np.asarray(asked)).sum())
    return f"max diff {int(np.abs(frames - reference[asked]).max())}, {wrong} of {len(asked)} frames wrong"


def video_exactness(folder, size):
    frames = render_clip([11, 0], 3, 150, size)
    reference_paths = {}
    for ext in ("mp4", "avi"):
        reference_paths[ext] = os.path.join(folder, f"exact.{ext}")
        write_video(reference_paths[ext], frames)
    results = {}
    for ext, path in reference_paths.items():
        with av.open(path) as container:
            reference = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
        for name, open_clip in VIDEO_DECODERS.items():
            try:
                results[name, ext] = compare(open_clip(path).read(ASKED), reference, ASKED)
            except Exception as err:  # a candidate that cannot open or read the container says so
                results[name, ext] = f"fails: {' '.join(str(err).split())[:80]}"
    return results


def jpeg_exactness(videos):
    samples = [dict(zip(("frame_sizes", "frames"), encode_frames(v[:8]), strict=True)) for v in videos]
    reference = [read_packed(s, range(8), JPEG_DECODERS["OpenCV imdecode + BGR to RGB"]) for s in samples]
    results = {}
    for name, decode in JPEG_DECODERS.items():
        diffs = [
            np.abs(read_packed(s, range(8), decode).astype(int) - r) for s, r in zip(samples, reference, strict=True)
        ]
        diff = np.stack(diffs)
        results[name] = "exact" if not diff.any() else f"max diff {diff.max()}, mean {diff.mean():.3f}"
    return results


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clips", type=int, default=16)
    p.add_argument("--frames", type=int, default=64)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    videos = [render_clip([7, i], i % 7, args.frames, args.size) for i in range(args.clips)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = [os.path.join(tmp, f"{i}.mp4") for i in range(args.clips)]
        for path, frames in zip(paths, videos, strict=True):
            write_video(path, frames)
        exact = video_exactness(tmp, args.size)
        for name, open_clip in VIDEO_DECODERS.items():
            rate = best_rate(pretrain_read(open_clip), paths, args.repeats)
            rows.append(("mp4", name, rate, f"mp4: {exact[name, 'mp4']}; AVI: {exact[name, 'avi']}"))
    samples = [dict(zip(("frame_sizes", "frames"), encode_frames(v), strict=True)) for v in videos]
    exact = jpeg_exactness(videos)
    for name, decode in JPEG_DECODERS.items():
        rate = best_rate(lambda s, d=decode: read_packed(s, pretrain_indices(args.frames, 16, 4), d), samples,
                         args.repeats)  # fmt: skip
        rows.append(("packed JPEG q95", name, rate, exact[name]))
    print(
        f"{args.clips} clips of {args.frames} frames at {args.size} x {args.size}; 16 frames at stride 4 per clip; "
        f"one thread, CPU time, best of {args.repeats}\n"
    )
    print("| path | decoder | clips/s per core | exactness (vs PyAV sequential; JPEG: vs OpenCV) |")
    print("|---|---|---:|---|")
    for path, name, rate, exactness in rows:
        print(f"| {path} | {name} | {rate:.1f} | {exactness} |")


if __name__ == "__main__":
    main()
