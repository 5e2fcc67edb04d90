"""The web page (webapp.py, inference/web.py): the upload check and the frame rate it measures, the preview of a
video browsers cannot play, the server's files, what the page shows, and the page itself in a real browser
(Playwright driving Debian's chromium) against a server this module starts on a free localhost port with a small
random model: a result with its video, timeline, table and downloads; an .avi previewed and analysed without an
error; one readable message that stays for a file that is no video and for one too long, no error badges; pages
at once each with their own result; a recording from the (fake) camera; no upload left on the server, no request
elsewhere. The browser tests skip, saying why in one line, where Playwright, Gradio or chromium is missing."""

import argparse
import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from datasets.synthetic import render_clip
from datasets.video_io import write_video
from engine.checkpoint import save_checkpoint
from inference.frames import video_fps
from inference.upload import UploadRejected, check_video
from inference.web_files import ServerFiles
from inference.web_preview import browser_plays, write_preview
from inference.web_view import summary_markdown, window_headers, window_rows
from inference.windows import plan_windows
from models import create_model

ROOT = Path(__file__).resolve().parents[1]
MAX_SECONDS = 5  # the test server's length limit
DOWNLOADS = ("predictions.json", "predictions.csv", "annotated.mp4")
CLASSES = ("happy", "sad", "neutral", "angry", "surprise", "disgust", "fear")  # the generated set's


def _browser_missing():
    for module in ("playwright", "gradio"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install -r requirements.txt; scripts/run_tests.sh does it)"
    if shutil.which("chromium") is None:
        return "no chromium on PATH (apt-get install chromium; scripts/run_tests.sh does it as root)"
    return None


needs_browser = pytest.mark.skipif(_browser_missing() is not None, reason=str(_browser_missing()))


def face_video(path, num_frames=72, identity=0):
    write_video(path, render_clip(8, identity, num_frames=num_frames, size=160), fps=25)  # Haar finds it
    return path


# --- the upload check ---


def test_check_video_accepts_a_video(tmp_path):
    timing = check_video(face_video(tmp_path / "talk.mp4"), max_bytes=2**20, max_seconds=3)
    assert timing.fps == pytest.approx(25.0) and timing.seconds == pytest.approx(72 / 25)


@pytest.mark.parametrize(
    "kind, message",
    [
        ("text", "cannot be read as a video"),
        ("empty", "is empty"),
        ("truncated", "cannot be read as a video"),  # the mp4's index (at its end) is cut off
        ("too long", "longer than 2 s"),
        ("too large", "at most 0 MB"),
        ("missing", "no longer on the server"),
    ],
)
def test_check_video_rejects_with_one_readable_line(tmp_path, kind, message):
    video = face_video(tmp_path / "talk.mp4")
    path, max_bytes, max_seconds = tmp_path / "upload.mp4", 2**20, 10
    if kind == "text":
        path.write_text("not a video\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    elif kind in ("too long", "too large"):
        shutil.copy(video, path)
        max_seconds, max_bytes = (2, max_bytes) if kind == "too long" else (max_seconds, 1000)
    with pytest.raises(UploadRejected, match=message) as caught:
        check_video(path, max_bytes, max_seconds)
    assert str(tmp_path) not in str(caught.value) and "\n" not in str(caught.value)  # the name, never the path


def test_the_frame_rate_is_the_packets_not_the_header(tmp_path):
    """A recording as a browser makes it: webm, millisecond timestamps, frames 80 and 120 ms apart, and a header
    announcing 1000 fps."""
    path = tmp_path / "recording.webm"
    with av.open(str(path), "w", format="webm") as container:
        stream = container.add_stream("libvpx", rate=1000)
        stream.width = stream.height = 64
        for i, ms in enumerate(np.cumsum([0] + [80, 120] * 10)):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 10 * i, np.uint8), format="rgb24")
            frame.pts, frame.time_base = int(ms), Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    assert video_fps(path) == 1000  # what the file says
    timing = check_video(path, max_bytes=2**20, max_seconds=10)
    assert timing.fps == pytest.approx(10.0) and timing.seconds == pytest.approx(2.0, abs=0.01)


# --- the preview ---


def test_a_video_browsers_cannot_play_gets_a_preview_they_can(tmp_path):
    avi = tmp_path / "talk.avi"
    write_video(avi, render_clip(8, 0, num_frames=30, size=400)[:, :, :300], fps=25, codec="mpeg4")  # 400 x 300
    assert browser_plays(face_video(tmp_path / "talk.mp4")) and not browser_plays(avi)
    assert not browser_plays(tmp_path / "missing.mp4")
    write_preview(avi, tmp_path / "preview.mp4")
    with av.open(str(tmp_path / "preview.mp4")) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.height, stream.width) == ("h264", 360, 270)
        assert stream.frames == 30 and stream.average_rate == 25
    assert browser_plays(tmp_path / "preview.mp4")


# --- the server's files ---


def test_an_upload_goes_when_nothing_holds_it_and_a_result_with_its_page():
    files = ServerFiles()
    try:
        shared, other = files.root / "sha1" / "talk.mp4", files.root / "sha2" / "other.mp4"  # as Gradio puts them
        for upload in (shared, other):
            upload.parent.mkdir()
            upload.write_bytes(b"video")
        files.show("page 1", shared)
        files.claim("page 1", shared)
        files.show("page 2", shared)  # the same file from another page
        files.show("page 1", other)  # page 1 shows another video while its request waits
        files.done("page 1")
        assert shared.exists() and not other.parent.exists()  # page 2 still holds the shared file
        files.claim("page 2", shared)
        files.end_session("page 2")  # closed
        assert not shared.parent.exists()
        first = files.new_result("page 1")
        other_result = files.new_result("page 2")
        second = files.new_result("page 1")
        assert not first.exists() and second.exists() and other_result.exists()
        files.end_session("page 1")
        assert not second.exists() and other_result.exists()
    finally:
        files.remove_all()
    assert not files.root.exists()


def test_a_preview_stands_for_its_upload_and_goes_with_it():
    files = ServerFiles()
    try:
        upload = files.root / "sha1" / "talk.avi"
        upload.parent.mkdir()
        upload.write_bytes(b"video")
        files.show("page", upload)
        preview = files.new_preview(upload)
        preview.write_bytes(b"preview")
        assert preview.suffix == ".mp4" and files.original(preview) == str(upload) == files.original(upload)
        files.show("page", preview)  # the page shows the preview now: the upload stays
        files.claim("page", preview)
        assert upload.exists()
        files.done("page")
        assert not upload.exists() and not preview.parent.exists()
    finally:
        files.remove_all()


# --- what the page shows ---


def _report(persons):
    return {"num_frames": 50, "fps": 25.0, "classes": ["happy", "sad"], "persons": persons,
            "decoding_stopped": None, "warning": "use a <dfew> model"}  # fmt: skip


def test_summary_and_table():
    probs = {"happy": 0.7, "sad": 0.3}
    windows = [
        {"start_s": 0.0, "end_s": 1.0, "label": "happy", "box": [-0.4, 2.0, 50.6, 60.0], "probs": probs},
        {"start_s": 1.0, "end_s": 2.0, "label": "no face", "box": None, "probs": None},
    ]
    seen = {"person": 1, "first_s": 0.0, "last_s": 1.0, "overall": {"label": "happy", "probs": probs}}
    unseen = {"person": 2, "first_s": 0.2, "last_s": 0.3, "overall": None, "windows": []}
    report = _report([{**seen, "windows": windows}, unseen])
    summary = summary_markdown(report, "a`b.mp4", 1.5)
    assert "`ab.mp4`: 2 persons" in summary and "| 1 | **happy** | happy 0.70, sad 0.30 | 0.0–1.0 s |" in summary
    assert "too little face to classify" in summary and "&lt;dfew&gt;" in summary  # escaped, not an HTML tag
    assert window_headers(report["classes"])[-2:] == ["happy", "sad"]
    assert window_rows(report) == [
        [1, 0.0, 1.0, "happy", "0, 2, 51, 60", 0.7, 0.3],
        [1, 1.0, 2.0, "no face", "", None, None],
    ]
    assert "No face found" in summary_markdown(_report([]), "empty.mp4", 1.0)


# --- the page in a browser ---


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(process, url, log, timeout_s=180):
    deadline = time.time() + timeout_s
    while True:
        assert process.poll() is None, log.read_text()
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            assert time.time() < deadline, f"the server did not answer in {timeout_s} s"
            time.sleep(0.5)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """webapp.py on a free port with a random 1-block model and the Haar detector; its temporary files (uploads,
    results) under `work`."""
    folder = tmp_path_factory.mktemp("web")
    torch.manual_seed(0)
    model = create_model("lgi_former_tiny_patch16_160", depth=1, init_scale=1.0)
    save_checkpoint(folder / "model.pth", model, "best", args=argparse.Namespace(data_set="synthetic", sampling_rate=2))
    work, log, port = folder / "tmp", folder / "server.log", free_port()
    work.mkdir()
    command = [sys.executable, "webapp.py", "--checkpoint", str(folder / "model.pth"), "--detector", "haar",
               "--device", "cpu", "--port", str(port), "--max_seconds", str(MAX_SECONDS)]  # fmt: skip
    env = {**os.environ, "TMPDIR": str(work), "OMP_NUM_THREADS": "1"}
    with open(log, "w") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}/"
            wait_until_up(process, url, log)
            yield argparse.Namespace(url=url, work=work, process=process)
        finally:
            process.terminate()
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        fake_camera = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]  # a test pattern
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox", *fake_camera])
        yield browser
        browser.close()


def open_page(browser, server, outside=None, permissions=()):
    """A new page (its own session) on the server; `outside` collects requests to anywhere else."""
    page = browser.new_context(viewport={"width": 1280, "height": 1000}, permissions=list(permissions)).new_page()
    if outside is not None:
        local = (server.url, "blob:", "data:")
        page.on("request", lambda request: None if request.url.startswith(local) else outside.append(request.url))
    page.goto(server.url)
    page.wait_for_selector("#run")
    return page


def upload(page, video):
    with page.expect_response(lambda response: "/upload" in response.url):
        page.set_input_files("#input input[type=file]", str(video))


def recognise(page, video):
    upload(page, video)
    page.click("#run")


def eventually(condition, timeout_s=20):
    deadline = time.time() + timeout_s
    while not condition():
        if time.time() > deadline:
            return False
        time.sleep(0.5)
    return True


def wait_for_result(page, timeout_s=120):
    """The summary's text, once shown; fails with the page's message when an error comes instead."""
    result, error = page.locator("#summary", has_text="analysed in"), page.locator(".toast-body")
    result.or_(error).first.wait_for(timeout=timeout_s * 1000)
    assert not error.count(), error.all_inner_texts()
    return result.inner_text()


@needs_browser
def test_a_video_gives_its_result(server, browser, tmp_path):
    outside = []
    page = open_page(browser, server, outside)
    recognise(page, face_video(tmp_path / "talk.mp4"))
    summary = wait_for_result(page)
    assert "talk.mp4: 1 person" in summary and "72 frames" in summary
    overall = page.locator("#summary td").nth(1).inner_text()  # person 1's overall label
    assert overall in CLASSES
    page.wait_for_function("() => document.querySelector('#annotated video')?.readyState >= 1")  # it plays
    page.wait_for_function("() => { const img = document.querySelector('#timeline img'); "
                           "return img && img.complete && img.naturalWidth > 0 }")  # fmt: skip
    rows = int(page.locator("#windows [role=grid]").get_attribute("aria-rowcount"))  # the header and the windows
    assert rows == 1 + len(plan_windows(72, clip_len=16, stride=2, hop=16))
    links = {name: page.locator(f'#downloads a[download="{name}"]') for name in DOWNLOADS}
    for link in links.values():
        link.wait_for(timeout=10_000)
    predictions = page.request.get(links["predictions.json"].get_attribute("href")).json()
    assert predictions["video"] == "talk.mp4" and predictions["persons"][0]["overall"]["label"] == overall
    screenshot = tmp_path / "web_page.png"
    page.screenshot(path=screenshot, full_page=True)
    print(f"screenshot: {screenshot}")
    assert not outside, outside
    assert not list(server.work.rglob("talk.mp4")), "the upload is still on the server"
    assert list(server.work.rglob("annotated.mp4"))  # served until the page closes
    page.context.close()  # its result goes once the server notices
    assert eventually(lambda: not list(server.work.rglob("annotated.mp4"))), "the result outlived its page"


@needs_browser
def test_an_avi_is_previewed_and_analysed_without_an_error(server, browser, tmp_path):
    """Browsers cannot play an .avi: the input shows the server's H.264 preview instead, and no error."""
    page = open_page(browser, server)
    upload(page, face_video(tmp_path / "talk.avi"))
    page.wait_for_function("() => { const v = document.querySelector('#input video'); "
                           "return v && v.src.endsWith('.mp4') && v.readyState >= 1 }")  # fmt: skip
    page.click("#run")
    summary = wait_for_result(page)
    assert "talk.avi: 1 person" in summary and "72 frames" in summary
    assert "Error" not in page.locator("body").inner_text()
    assert not list(server.work.rglob("talk.*")), "the upload or its preview is still on the server"
    page.context.close()


@needs_browser
@pytest.mark.parametrize("kind", ["text", "too long"])
def test_a_bad_upload_gets_one_message_that_stays(server, browser, tmp_path, kind):
    """The message comes at the upload, is still there once the button's request has emptied the input and the
    outputs, without any error badge, and goes with the next upload."""
    page = open_page(browser, server)
    if kind == "text":
        video, message = tmp_path / "notes.mp4", "notes.mp4 cannot be read as a video"
        video.write_text("meeting notes, not a video\n" * 20)
    else:
        video, message = face_video(tmp_path / "long.mp4", num_frames=25 * (MAX_SECONDS + 1)), f"than {MAX_SECONDS} s"
    recognise(page, video)
    page.locator("#input", has_text="Click to Upload").wait_for(timeout=60_000)  # the request's outputs are in
    page.wait_for_timeout(1000)
    text = page.locator("body").inner_text()
    assert text.count(message) == 1 and message in page.locator("#message").inner_text()
    assert "Error" not in text and "Traceback" not in page.content() and not page.locator(".toast-body").count()
    assert not page.locator("#summary").inner_text().strip()
    assert not list(server.work.rglob(video.name))
    upload(page, face_video(tmp_path / "talk.mp4"))
    assert eventually(lambda: not page.locator("#message").inner_text().strip()), "the message outlived the upload"
    page.context.close()


@needs_browser
def test_pages_at_once_each_get_their_own_result(server, browser, tmp_path):
    """Three pages press the button together; the third uploads the first's file again (Gradio stores both uploads
    at one path, which must outlive the first result)."""
    first, second = face_video(tmp_path / "first.mp4", 72, 0), face_video(tmp_path / "second.mp4", 48, 3)
    pages = [open_page(browser, server) for _ in range(3)]
    for page, video in zip(pages, [first, second, first], strict=True):
        upload(page, video)
    for page in pages:
        page.click("#run")
    results = [wait_for_result(page) for page in pages]
    for result, video, frames in zip(results, [first, second, first], [72, 48, 72], strict=True):
        assert f"{video.name}: 1 person" in result and f"{frames} frames" in result
    for page in pages:
        page.context.close()


@needs_browser
def test_a_file_two_pages_upload_outlives_the_first_result(server, browser, tmp_path):
    """Gradio stores both uploads at one path: the second page's press, after the first page's result, still
    finds it."""
    video = face_video(tmp_path / "shared.mp4")
    first, second = open_page(browser, server), open_page(browser, server)
    upload(first, video)
    upload(second, video)
    first.click("#run")
    assert "shared.mp4: 1 person" in wait_for_result(first)
    second.click("#run")
    assert "shared.mp4: 1 person" in wait_for_result(second)
    assert not list(server.work.rglob("shared.mp4"))
    for page in (first, second):
        page.context.close()


@needs_browser
def test_a_recording_from_the_camera_gives_its_result(server, browser):
    """Chromium's fake camera recorded in the page for 2 s; analysed at the rate its frames came (the browser's
    webm may announce 1000 fps)."""
    page = open_page(browser, server, permissions=["camera"])
    page.locator("#input button[aria-label='Capture from camera']").click()
    page.get_by_text("Click to Access Webcam").click()
    page.locator("#input .capture-button", has_text="Record").click()
    page.wait_for_timeout(2000)
    with page.expect_response(lambda response: "/upload" in response.url):
        page.locator("#input .capture-button", has_text="Stop").click()
    page.click("#run")
    fps = float(re.search(r"at ([\d.]+) fps", wait_for_result(page)).group(1))
    assert 1 <= fps <= 60
    page.context.close()


@needs_browser
def test_the_server_stops_and_leaves_no_file(server):
    server.process.terminate()
    server.process.wait(60)
    assert not list(server.work.glob("mae-dfer-web-*")) and not (server.work / "gradio").exists()
