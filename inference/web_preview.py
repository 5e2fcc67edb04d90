"""The page's preview of an upload the browser cannot play itself (an .avi, an mp4 in MPEG-4 part 2 or HEVC): a
copy in H.264 (mp4), at most PREVIEW_HEIGHT pixels high, without audio, shown in place of the upload. Only the
preview: the analysis reads the upload itself. Plain PyAV, no Gradio."""

from pathlib import Path

import av

PREVIEW_HEIGHT = 360  # pixels; the page shows the input about 400 pixels wide
# Containers (by extension, as the server names the file to the browser) and the codecs every browser decodes in them.
PLAYABLE = {".mp4": {"h264", "av1"}, ".webm": {"vp8", "vp9", "av1"}, ".ogg": {"theora"}}


def browser_plays(path):
    """Whether browsers play `path` as it is: a container and codec from PLAYABLE, in 8-bit 4:2:0."""
    codecs = PLAYABLE.get(Path(path).suffix.lower(), set())
    try:
        with av.open(str(path)) as container:
            codec = container.streams.video[0].codec_context
            return codec.name in codecs and codec.pix_fmt in ("yuv420p", "yuvj420p")
    except (av.FFmpegError, IndexError):
        return False


def write_preview(path, out, max_height=PREVIEW_HEIGHT):
    """Transcode `path`'s first video stream into `out` (an .mp4): H.264 (x264's fastest preset), scaled down to at
    most `max_height` pixels high, at the stream's average rate. A part that no longer decodes ends it quietly."""
    with av.open(str(path)) as source, av.open(str(out), "w") as target:
        stream = source.streams.video[0]
        stream.thread_type = "AUTO"
        height = min(max_height, stream.height) // 2 * 2  # even, as 4:2:0 needs
        width = max(2, round(stream.width * height / stream.height / 2) * 2)
        encoder = target.add_stream("libx264", rate=stream.average_rate or stream.guessed_rate or 25)
        encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
        encoder.options = {"preset": "ultrafast", "crf": "28"}
        try:
            for frame in source.decode(stream):
                frame = frame.reformat(width, height, "yuv420p")
                frame.pts = None  # numbered by the encoder, one per frame at its rate
                target.mux(encoder.encode(frame))
        except av.FFmpegError:
            pass  # a broken tail: the preview up to there
        target.mux(encoder.encode())
