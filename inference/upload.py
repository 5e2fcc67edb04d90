"""Is an uploaded file a video this server will analyse? A quick look with PyAV before any work.

`check_video(path, max_bytes, max_seconds)` raises UploadRejected, its message one line meant for the person
who uploaded it (naming the file by its name, never the server's path), when the file is empty, too large, not
a container FFmpeg can open, holds no video stream, is longer than `max_seconds`, or yields no frame. Otherwise
it returns the video's length and frame rate as its packets' timestamps give them, not its header: a browser's
recording has a variable rate, and its header may announce none, or 1000 fps. Counting stops as soon as the
length passes the limit, and no frame but the first is decoded. A file that decodes for a while and then
breaks passes: the recognizer analyses it up to there and says so.
"""

from dataclasses import dataclass
from pathlib import Path

import av

from datasets.video_io import ffmpeg_reason


class UploadRejected(Exception):
    """An upload the server will not analyse; the message is one line for the page."""


@dataclass
class VideoTiming:
    seconds: float  # from the first frame's start to the last one's end (or start, without durations)
    fps: float | None  # frames per second between the first and the last frame's start; None under two frames


def check_video(path, max_bytes, max_seconds):
    path = Path(path)
    if not path.is_file():
        raise UploadRejected(f"{path.name} is no longer on the server: upload it again")
    size = path.stat().st_size
    if size == 0:
        raise UploadRejected(f"{path.name} is empty")
    if size > max_bytes:
        raise UploadRejected(
            f"{path.name} is {size / 2**20:.0f} MB; this server takes at most {max_bytes / 2**20:.0f} MB"
        )
    with _open(path) as container:
        if not container.streams.video:
            raise UploadRejected(f"{path.name} holds no video stream")
        if not _first_frame_decodes(container, container.streams.video[0]):
            raise UploadRejected(f"{path.name} holds no frame that decodes (an empty or truncated video)")
    with _open(path) as container:
        timing = _timing(container, container.streams.video[0], stop_after=max_seconds)
    if timing.seconds > max_seconds:
        raise UploadRejected(f"{path.name} is longer than {max_seconds:g} s, this server's limit")
    return timing


def _open(path):
    try:
        return av.open(str(path))
    except av.FFmpegError as err:
        raise UploadRejected(
            f"{path.name} cannot be read as a video ({ffmpeg_reason(err)}): not a video, or a broken one"
        ) from None


def _timing(container, stream, stop_after):
    """The packets' timestamps (nothing decoded), up to the first past `stop_after` s or a part that no longer
    demuxes."""
    count, first, last, end = 0, None, None, 0.0
    try:
        for packet in container.demux(stream):
            if packet.pts is None:
                continue
            start = float(packet.pts * packet.time_base)
            count += 1
            first, last = (start, start) if first is None else (min(first, start), max(last, start))
            end = max(end, start + float((packet.duration or 0) * packet.time_base))
            if end - first > stop_after:
                break
    except av.FFmpegError:
        pass  # a truncated tail: the timing up to there
    if first is None:
        return VideoTiming(0.0, None)
    return VideoTiming(end - first, (count - 1) / (last - first) if last > first else None)


def _first_frame_decodes(container, stream):
    try:
        return next(iter(container.decode(stream)), None) is not None
    except av.FFmpegError:
        return False
