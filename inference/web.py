"""The recognizer as a local web page (Gradio): upload a video or record one with the browser's camera, follow
the progress, then see the annotated video, the timeline (one panel per person), each person's overall label and
the per-window table, and download the predictions and the annotated video. `python webapp.py` starts it.

One Recognizer, loaded at start, serves every request through the queue, one at a time (concurrency 1); each
page sees only its own result. An upload is checked for being a video within the limits before any work
(inference/upload.py), at once and again when the button is pressed, and deleted once its result is ready; one
the browser cannot play (an .avi) is shown as a preview the server makes (inference/web_preview.py). Results are
deleted when the page asks for the next one or is closed (inference/web_files.py). Bad input is one message on
the page that stays until the next upload, the outputs empty; never a stack trace, never an error badge.
"""

import html
import signal
import time
from pathlib import Path

import gradio as gr

from datasets.video_io import VideoReadError
from inference.frames import DEFAULT_FPS
from inference.recognizer import FACES, Recognizer
from inference.report import plot_timeline, write_predictions
from inference.upload import UploadRejected, check_video
from inference.web_preview import browser_plays, write_preview
from inference.web_view import summary_markdown, window_headers, window_rows

# No web fonts: the page fetches nothing from outside this server.
THEME = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
CSS = "#summary th { white-space: nowrap; }"  # the summary's headers on one line each
CACHE_SWEEP = (3600, 6 * 3600)  # every hour, Gradio deletes its files older than 6 h (uploads of abandoned requests)
# The input's player fails on an upload the browser cannot play (an .avi) before the server's preview replaces it:
# that failure is stopped on its way to the player, whose handler would show it as an error and a badge.
HEAD = """<script>
document.addEventListener("error", (e) => { if (e.target.closest?.("#input")) e.stopPropagation(); }, true);
</script>"""


def serve(recognizer, files, host="127.0.0.1", port=7860, max_upload_mb=200, max_seconds=600.0):
    """Run the page until Ctrl-C or SIGTERM. `files`: the server's ServerFiles, GRADIO_TEMP_DIR pointing into it
    before Gradio was imported (webapp.py)."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stops the server as Ctrl-C does
    page = build_page(recognizer, files, max_upload_mb, max_seconds)
    page.queue(default_concurrency_limit=1).launch(
        server_name=host, server_port=port, max_file_size=int(max_upload_mb * 2**20), theme=THEME, css=CSS, head=HEAD,
        show_error=False, footer_links=[], run_history=False, enable_monitoring=False, mcp_server=False,
        ssr_mode=False,
    )  # fmt: skip


def build_page(recognizer, files, max_upload_mb, max_seconds):
    limits = f"at most {max_upload_mb:g} MB and {max_seconds:g} s"
    with gr.Blocks(title="MAE-DFER: emotions in a video", analytics_enabled=False, delete_cache=CACHE_SWEEP) as page:
        gr.Markdown(
            "## Facial expressions in a video, person by person\n"
            f"Upload a video ({limits}) or record one with the camera, then press **Recognise**. It is analysed "
            "on this server and deleted as soon as its result is ready; the result goes when you close this page "
            f"or ask for the next one. Classes: {', '.join(recognizer.classes)}."
        )
        with gr.Row():
            with gr.Column(scale=2):
                video = gr.Video(
                    label="Video", sources=["upload", "webcam"], elem_id="input",
                    include_audio=True,  # as uploaded: without, Gradio would strip the audio with an ffmpeg binary
                    webcam_options=gr.WebcamOptions(constraints={"audio": False}),  # records the camera, no microphone
                )  # fmt: skip
                message = gr.Markdown(elem_id="message")  # why an upload will not be analysed
                faces = gr.Radio(
                    FACES, value=recognizer.faces, label="Faces", info="everyone, or the most seen", elem_id="faces"
                )
                detect_every = gr.Slider(
                    1, 25, recognizer.detect_every, step=1, label="Detect faces every k frames", elem_id="detect_every"
                )
                hop = gr.Slider(1, 64, recognizer.hop, step=1, label="Frames between window starts", elem_id="hop")
                button = gr.Button("Recognise", variant="primary", elem_id="run")
            with gr.Column(scale=3):
                summary = gr.Markdown(elem_id="summary")
                annotated = gr.Video(label="Annotated video", height=360, interactive=False, elem_id="annotated")
        timeline = gr.Image(label="Timeline", type="filepath", interactive=False, elem_id="timeline")
        table = gr.Dataframe(
            headers=window_headers(recognizer.classes), label="Windows", interactive=False, elem_id="windows"
        )
        downloads = gr.File(label="Downloads", file_count="multiple", interactive=False, elem_id="downloads")

        requests = Requests(recognizer, files, max_upload_mb, max_seconds)
        video.change(requests.show, video, None, queue=False)
        video.input(requests.check, video, [video, message], queue=False)  # an upload or recording, not a preview
        outputs = [video, message, summary, annotated, timeline, table, downloads]
        button.click(requests.claim, video, None, queue=False).success(
            requests.run, [video, faces, detect_every, hop], outputs, concurrency_limit=1, concurrency_id="model"
        )
        page.unload(requests.close)
    return page


class Requests:
    """What the page's events do: hold the video the page shows, check a new one (and preview it where the browser
    cannot play it), claim it for a request when the button is pressed, analyse it in the queue, let go of it and
    forget a closed page (inference/web_files.py)."""

    def __init__(self, recognizer, files, max_upload_mb, max_seconds):
        self.recognizer, self.files = recognizer, files
        self.max_bytes, self.max_seconds = max_upload_mb * 2**20, max_seconds

    def show(self, upload, request: gr.Request):
        self.files.show(request.session_hash, upload)

    def check(self, upload):
        """A new upload: the message why it will not be analysed, or none; shown as a preview where the browser
        cannot play it."""
        if upload is None:
            return gr.skip(), ""
        try:
            check_video(upload, self.max_bytes, self.max_seconds)
        except UploadRejected as err:
            return gr.skip(), rejected(err, upload)
        if browser_plays(upload):
            return gr.skip(), ""
        preview = self.files.new_preview(upload)
        write_preview(upload, preview)
        return str(preview), ""

    def claim(self, upload, request: gr.Request):
        if upload is None:
            raise gr.Error("Upload a video or record one first.", title="No video", print_exception=False)
        self.files.claim(request.session_hash, upload)

    def run(self, shown, faces, detect_every, hop, request: gr.Request, progress=gr.Progress()):  # noqa: B008
        """The page's outputs: the input emptied (its file is deleted), no message, then analyse()'s; for a video
        it will not analyse, the message and the outputs emptied."""
        upload = self.files.original(shown)  # the upload, not its preview
        folder = self.files.new_result(request.session_hash)  # the previous result goes
        try:
            timing = check_video(upload, self.max_bytes, self.max_seconds)
            recognizer = with_settings(self.recognizer, faces, int(detect_every), int(hop))
            fps = timing.fps or DEFAULT_FPS  # one frame has no rate, and a browser's header may say 1000 fps
            return None, "", *analyse(recognizer, upload, fps, folder, gradio_progress(progress))
        except (UploadRejected, VideoReadError, ValueError) as err:
            return None, rejected(err, upload), "", None, None, None, None
        finally:
            self.files.done(request.session_hash)

    def close(self, request: gr.Request):
        self.files.end_session(request.session_hash)


def rejected(err, upload):
    """The page's message for a video it will not analyse, naming the file, never the server's path."""
    return f"**Cannot analyse this video**: {html.escape(str(err).replace(str(upload), Path(upload).name))}"


def analyse(recognizer, upload, fps, folder, progress):
    """Recognise `upload` at `fps` (its packets' rate: a browser's recording may announce 1000 fps), write the
    demo's files into `folder`; the page's summary, annotated video, timeline, window rows and downloads."""
    start, name = time.time(), Path(upload).name
    result = recognizer(upload, fps=fps, annotated=folder / "annotated.mp4", progress=progress)
    timelines = {f"person {p.id}": p.timeline for p in result.persons}
    plot_timeline(folder / "timeline.png", timelines, recognizer.classes, result.fps, title=name)
    seconds = time.time() - start
    report = {**result.to_dict(), "video": name, "processing_s": round(seconds, 2)}
    if result.stopped:
        report["decoding_stopped"] = result.stopped.replace(str(upload), name)
    write_predictions(folder, report)
    downloads = [str(folder / file) for file in ("predictions.json", "predictions.csv", "annotated.mp4")]
    return (
        summary_markdown(report, name, seconds), str(folder / "annotated.mp4"), str(folder / "timeline.png"),
        window_rows(report), downloads,
    )  # fmt: skip


def with_settings(recognizer, faces, detect_every, hop):
    """The same model and detector with the page's settings."""
    r = recognizer
    detector = "none" if r.detector is None else r.detector
    return Recognizer(
        r.classify, r.classes, r.clip_len, r.input_size, r.stride, hop=hop, batch_size=r.batch_size,
        detector=detector, detect_every=detect_every, faces=faces, min_face=r.min_face, margin=r.margin,
        device=r.device, data_set=r.data_set, precision=r.precision,
    )  # fmt: skip


def gradio_progress(bar):
    """The recognizer's progress callback drawn as Gradio's bar: each pass's share of frames, and its line."""

    def report(p):
        bar(p.frames / p.total if p.total else (p.frames, None), desc=p.line())

    return report
