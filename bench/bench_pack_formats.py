"""Which form a packed clip should take: decode rate of the candidates, one process, one thread.

Generates VoxCeleb2-shaped clips (224 x 224 H.264 mp4 of --frames frames), then times, clip by clip, what a
pretraining item decodes: 16 frames at stride 4 from a random start (datasets.sampling.pretrain_indices), in
each candidate form, and reports CPU-time clips/s (best of --repeats passes) and bytes per stored frame:
- the mp4 itself (today's list path, decord);
- JPEG frames (quality 95) of the whole 224 x 224 frame, or of the 160 x 160 top-centre crop that
  --voxceleb2_crop keeps, as datasets.shards stores them;
- H.264 of the 160 x 160 crop with a keyframe every --gop frames (1: all-intra), seeking to the keyframe
  before each wanted frame (PyAV, from memory).

    python -m bench.bench_pack_formats [--clips 8] [--frames 96] [--repeats 3]
"""

import argparse
import io
import os
import tempfile

import av
import cv2
import numpy as np

from bench.common import best_rate
from datasets.sampling import pretrain_indices
from datasets.shards import PackedClip, encode_frames
from datasets.synthetic import render_clip
from datasets.video_io import open_video, write_video


def crop_160(frames):
    return np.ascontiguousarray(frames[:, :160, 32:192])


def h264_bytes(frames, gop):
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.height, stream.width, stream.pix_fmt = frames.shape[1], frames.shape[2], "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast", "g": str(gop), "keyint_min": str(gop), "bf": "0"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def read_h264(data, wanted, gop):
    """Frames `wanted` (sorted, distinct) of a short-GOP stream: seek to each keyframe once, decode forward."""
    out = []
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        step = stream.time_base and round(1 / (stream.average_rate * stream.time_base))
        position = None
        for target in wanted:
            if position is None or target // gop != position // gop or target < position:
                container.seek((target // gop) * gop * step, stream=stream, backward=True, any_frame=False)
                frames = container.decode(stream)
            for frame in frames:
                position = round(frame.pts / step)
                if position == target:
                    out.append(frame.to_ndarray(format="rgb24"))
                    break
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clips", type=int, default=8)
    p.add_argument("--frames", type=int, default=96)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    cv2.setNumThreads(1)
    videos = [render_clip([7, i], i % 7, args.frames, 224) for i in range(args.clips)]
    pick = lambda n: np.unique(pretrain_indices(n, 16, 4)).tolist()  # noqa: E731
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = [os.path.join(tmp, f"{i}.mp4") for i in range(args.clips)]
        for path, frames in zip(paths, videos, strict=True):
            write_video(path, frames)

        def read_mp4(path):
            video = open_video(path)
            video.read(pick(len(video)))

        size = sum(os.path.getsize(p) for p in paths) / (args.clips * args.frames)
        rows.append(("mp4 224 x 224 (decord)", best_rate(read_mp4, paths, args.repeats), size))
        for name, crop in (("JPEG q95 224 x 224", lambda f: f), ("JPEG q95 160 x 160 crop", crop_160)):
            packed = [dict(zip(("frame_sizes", "frames"), encode_frames(crop(v)), strict=True)) for v in videos]
            size = sum(len(s["frames"]) for s in packed) / (args.clips * args.frames)

            def read_jpeg(sample):
                clip = PackedClip({"path": "", **sample})
                clip.read(pick(len(clip)))

            rows.append((name, best_rate(read_jpeg, packed, args.repeats), size))
        for gop in (1, 4, 16):
            streams = [h264_bytes(crop_160(v), gop) for v in videos]
            size = sum(len(s) for s in streams) / (args.clips * args.frames)
            read = lambda data, gop=gop: read_h264(data, pick(args.frames), gop)  # noqa: E731
            rows.append((f"H.264 160 x 160 crop, GOP {gop}", best_rate(read, streams, args.repeats), size))
    print("| stored form | clips/s (one core) | kB per frame |\n|---|---:|---:|")
    for name, rate, size in rows:
        print(f"| {name} | {rate:.1f} | {size / 1e3:.1f} |")


if __name__ == "__main__":
    main()
