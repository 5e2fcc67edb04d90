"""Decoding: frame folders and video files to uint8 RGB arrays, reading only the frames a clip needs.

A clip source is opened with `open_video(path)`; `len(source)` is its frame count and
`source.read(indices)` returns (T, H, W, 3) uint8 RGB, T = len(indices), in the order asked for.

Video backends, tried in order: torchcodec, decord, PyAV, OpenCV (bench.bench_decoders: torchcodec takes 20 % less
CPU than the others on a pretraining clip of an mp4, and all four return PyAV's pixels there). torchcodec and decord
seek exactly only in ISO media files (mp4, mov, m4v), which carry a frame index; in other containers (avi, mkv, ...)
their random access can return the wrong frame (decord 0.6.0 on an H.264 AVI returns frame 5 when asked for frame
133; torchcodec 0.17 is wrong there even decoding from the start), so there torchcodec steps aside and decord
decodes sequentially from the start. torchcodec needs a system FFmpeg (4 to 9) to decode video; without one it
steps aside too, once per process. PyAV and OpenCV always decode sequentially up to the last frame needed.

`stream_frames(path)` is the other way in, for a whole video at bounded memory: every frame in order, one at a
time (PyAV), and `VideoWriter` encodes frame by frame.
"""

import os
import re

import cv2
import numpy as np

FRAME_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
SEEKABLE_CONTAINERS = (".mp4", ".m4v", ".mov")
VIDEO_BACKENDS = ("torchcodec", "decord", "pyav", "opencv")


class VideoReadError(Exception):
    """A clip that cannot be read; the message is one line naming the file."""

    def __init__(self, path, reason):
        super().__init__(str(path), reason)
        self.path = str(path)
        self.reason = reason

    def __str__(self):
        return f"{self.path}: {self.reason}"


def _natural_key(name):
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def list_frames(folder):
    """Image files in `folder`, sorted by frame number (frame_2 before frame_10), as full paths."""
    names = [n for n in os.listdir(folder) if n.lower().endswith(FRAME_EXTENSIONS)]
    return [os.path.join(folder, n) for n in sorted(names, key=_natural_key)]


def _check_indices(path, indices, num_frames):
    indices = np.asarray(indices, dtype=np.int64)
    if indices.ndim != 1 or len(indices) == 0:
        raise ValueError(f"indices must be a non-empty 1-D sequence, got shape {indices.shape}")
    outside = indices[(indices < 0) | (indices >= num_frames)]
    if len(outside):
        raise VideoReadError(path, f"frame index {int(outside[0])} out of range for {num_frames} frames")
    return indices


def _gather(indices, read_sorted):
    """Read each distinct index once, in increasing order, then lay the frames out as asked."""
    wanted, inverse = np.unique(indices, return_inverse=True)
    frames = read_sorted(wanted.tolist())  # list of (H, W, 3), one per wanted index
    return np.stack([frames[i] for i in inverse])  # (T, H, W, 3)


class FrameFolder:
    """A folder of jpg/png frames in natural order, or a single image read as a one-frame clip."""

    def __init__(self, path):
        self.path = str(path)
        self.files = list_frames(self.path) if os.path.isdir(self.path) else [self.path]
        if not self.files:
            raise VideoReadError(self.path, "folder holds no jpg/png frames")

    def __len__(self):
        return len(self.files)

    def _imread(self, index):
        frame = cv2.imread(self.files[index], cv2.IMREAD_COLOR)
        if frame is None:
            raise VideoReadError(self.files[index], "cannot decode image")
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)

    def read(self, indices):
        indices = _check_indices(self.path, indices, len(self))
        try:
            return _gather(indices, lambda wanted: [self._imread(i) for i in wanted])
        except ValueError as err:
            raise VideoReadError(self.path, f"frames differ in size ({err})") from err


def _sequential(path, frames, wanted, to_array):
    """Walk a decoder's frame iterator from frame 0, converting only the wanted frames."""
    out, pending = [], iter(wanted)
    target = next(pending)
    for index, frame in enumerate(frames):
        if index == target:
            out.append(to_array(frame))
            target = next(pending, None)
            if target is None:
                return out
    raise VideoReadError(path, f"truncated: stream ended before frame {target}")


_TORCHCODEC_MISSING = []  # why torchcodec cannot decode video in this process, once seen


class _TorchCodecReader:
    def __init__(self, path):
        if not path.lower().endswith(SEEKABLE_CONTAINERS):
            raise VideoReadError(path, "frame-exact in mp4, mov and m4v only")
        if _TORCHCODEC_MISSING:
            raise ImportError(_TORCHCODEC_MISSING[0])
        from torchcodec.decoders import VideoDecoder

        self.path = path
        try:
            self.decoder = VideoDecoder(path, num_ffmpeg_threads=1, dimension_order="NHWC", seek_mode="exact")
        except RuntimeError as err:
            if "Could not load libtorchcodec" not in str(err):  # drop the C++ source location before the reason
                raise VideoReadError(path, re.sub(r"^.*\.cpp:\d+, ", "", str(err))) from None
            _TORCHCODEC_MISSING.append("cannot load a system FFmpeg 4 to 9 (libavutil.so.56 to .61)")
            raise ImportError(_TORCHCODEC_MISSING[0]) from None
        self.num_frames = len(self.decoder)

    def read(self, wanted):
        return list(self.decoder.get_frames_at(wanted).data.numpy())


class _DecordReader:
    def __init__(self, path):
        import decord

        self.path = path
        self.reader = decord.VideoReader(path, num_threads=1)
        self.num_frames = len(self.reader)
        self.seekable = path.lower().endswith(SEEKABLE_CONTAINERS)

    def read(self, wanted):
        if self.seekable:
            return list(self.reader.get_batch(wanted).asnumpy())
        self.reader.seek(0)
        frames = (self.reader.next() for _ in range(self.num_frames))
        return _sequential(self.path, frames, wanted, lambda f: f.asnumpy())


class _PyAVReader:
    def __init__(self, path):
        import av

        self.path = path
        with av.open(path) as container:
            stream = container.streams.video[0]
            # Header count when present (mp4, avi), else count packets without decoding (mkv, webm).
            self.num_frames = stream.frames or sum(1 for p in container.demux(stream) if p.size)

    def read(self, wanted):
        import av

        with av.open(self.path) as container:
            stream = container.streams.video[0]
            stream.codec_context.thread_count = 1  # one thread per loader worker, as decord
            frames = container.decode(stream)
            return _sequential(self.path, frames, wanted, lambda f: f.to_ndarray(format="rgb24"))


class _OpenCVReader:
    def __init__(self, path):
        self.path = path
        capture = cv2.VideoCapture(path)
        if not capture.isOpened():
            raise VideoReadError(path, "OpenCV cannot open the file")
        self.num_frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        capture.release()

    def read(self, wanted):
        capture = cv2.VideoCapture(self.path)

        def frames():
            while capture.grab():
                yield capture

        try:
            return _sequential(self.path, frames(), wanted, lambda c: cv2.cvtColor(c.retrieve()[1], cv2.COLOR_BGR2RGB))
        finally:
            capture.release()


_READERS = {"torchcodec": _TorchCodecReader, "decord": _DecordReader, "pyav": _PyAVReader, "opencv": _OpenCVReader}


def _one_line(err):
    return " ".join(str(err).split()) or type(err).__name__


class VideoFile:
    """A video file read by the first backend that opens it; a backend that fails hands over to the next."""

    def __init__(self, path, backends=VIDEO_BACKENDS):
        self.path = str(path)
        self.pending = list(backends)
        self.errors = []
        self.backend, self.reader = self._next_reader()
        self.num_frames = self.reader.num_frames

    def _next_reader(self):
        while self.pending:
            name = self.pending.pop(0)
            try:
                reader = _READERS[name](self.path)
            except Exception as err:  # ImportError, decord.DECORDError, av.FFmpegError, VideoReadError
                self.errors.append(f"{name}: {_one_line(err)}")
                continue
            if reader.num_frames > 0:
                return name, reader
            self.errors.append(f"{name}: no frames")
        raise VideoReadError(self.path, "; ".join(self.errors))

    def __len__(self):
        return self.num_frames

    def read(self, indices):
        indices = _check_indices(self.path, indices, self.num_frames)
        while True:
            try:
                return _gather(indices, self.reader.read)
            except Exception as err:
                self.errors.append(f"{self.backend}: {_one_line(err)}")
                self.backend, self.reader = self._next_reader()


def open_video(path, backends=VIDEO_BACKENDS):
    """A frame folder, a single image or a video file, as an object with len() and read(indices)."""
    path = str(path)
    if os.path.isdir(path) or path.lower().endswith(FRAME_EXTENSIONS):
        if not os.path.exists(path):
            raise VideoReadError(path, "no such file or folder")
        return FrameFolder(path)
    if not os.path.isfile(path):
        raise VideoReadError(path, "no such file or folder")
    if os.path.getsize(path) == 0:
        raise VideoReadError(path, "empty file")
    return VideoFile(path, backends)


def _stream_folder(path, wanted):
    files = list_frames(path) if os.path.isdir(path) else [path]
    if not files:
        raise VideoReadError(path, "folder holds no jpg/png frames")
    size = None
    for index, file in enumerate(files):
        frame = cv2.imread(file, cv2.IMREAD_COLOR)  # read even when not wanted: a broken image ends the stream here
        if frame is None:
            raise VideoReadError(file, f"cannot decode image (frame {index})")
        if size is None:
            size = frame.shape
        elif frame.shape != size:
            h, w = frame.shape[:2]
            raise VideoReadError(file, f"frame {index} is {w}x{h}, frame 0 is {size[1]}x{size[0]}")
        yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if wanted(index) else None


def ffmpeg_reason(err):
    """One line saying why PyAV (FFmpeg) failed: its error's strerror, else its message."""
    return getattr(err, "strerror", None) or _one_line(err)


def _stream_video(path, wanted):
    import av

    try:
        container = av.open(path)
    except av.FFmpegError as err:
        raise VideoReadError(path, f"cannot open ({ffmpeg_reason(err)})") from None
    count = 0
    with container:
        if not container.streams.video:
            raise VideoReadError(path, "holds no video stream")
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        try:
            for frame in container.decode(stream):
                yield frame.to_ndarray(format="rgb24") if wanted(count) else None
                count += 1
        except av.FFmpegError as err:
            raise VideoReadError(path, f"cannot decode frame {count} ({ffmpeg_reason(err)})") from None
        if count < stream.frames:
            raise VideoReadError(path, f"stream ends after {count} frames; its header announces {stream.frames}")


def stream_frames(path, wanted=None):
    """Every frame of a frame folder, an image or a video file, in order, decoded one at a time (videos by PyAV).

    Yields (H, W, 3) uint8 RGB, or None for a frame index that `wanted(index)` declines (decoded, not converted).
    A frame that cannot be decoded, or a stream shorter than its header announces, raises VideoReadError naming
    the file and the frame, after every frame before it was yielded.
    """
    path, wanted = str(path), wanted or (lambda index: True)
    if not os.path.exists(path):
        raise VideoReadError(path, "no such file or folder")
    if os.path.isdir(path) or path.lower().endswith(FRAME_EXTENSIONS):
        yield from _stream_folder(path, wanted)
    elif os.path.getsize(path) == 0:
        raise VideoReadError(path, "empty file")
    else:
        yield from _stream_video(path, wanted)


def video_comment(path):
    """The comment in a video file's container metadata, None without one or for anything unreadable."""
    import av

    try:
        with av.open(str(path)) as container:
            return container.metadata.get("comment")
    except (av.FFmpegError, OSError):
        return None


def count_frames(path):
    return len(open_video(path))


def read_frames(path, indices):
    """Frames `indices` of a frame folder or video file: (T, H, W, 3) uint8 RGB."""
    return open_video(path).read(indices)


class VideoWriter:
    """Encode uint8 RGB frames one at a time with PyAV: H.264 by default (even H and W), or any FFmpeg codec.
    The stream's size is the first frame's; `comment` goes into the container's metadata. Use as a context manager;
    leaving it flushes the encoder."""

    def __init__(self, path, fps=25, codec=None, crf=20, comment=None):
        import av

        self.codec = codec or "libx264"
        self.container = av.open(str(path), "w")
        if comment:
            self.container.metadata["comment"] = comment
        self.stream = self.container.add_stream(self.codec, rate=fps)
        self.crf, self.started = crf, False

    def _start(self, height, width):
        self.started = True
        self.stream.height, self.stream.width = height, width
        self.stream.pix_fmt = "yuvj420p" if self.codec == "mjpeg" else "yuv420p"
        self.stream.codec_context.thread_count = 1  # callers parallelise across files
        if self.codec == "libx264":
            self.stream.options = {"crf": str(self.crf), "preset": "veryfast"}

    def write(self, frame):
        import av

        if not self.started:
            self._start(*frame.shape[:2])
        for packet in self.stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
            self.container.mux(packet)

    def close(self):
        if self.started:
            for packet in self.stream.encode():
                self.container.mux(packet)
        self.container.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def write_video(path, frames, fps=25, codec=None, crf=20, comment=None):
    """Encode (T, H, W, 3) uint8 RGB frames with PyAV: H.264 by default (even H and W), or any FFmpeg codec."""
    with VideoWriter(path, fps, codec, crf, comment) as writer:
        for frame in frames:
            writer.write(frame)
