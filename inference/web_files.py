"""The web page's files on the server, and when each is deleted.

Everything lives in one private folder made at start and removed at exit: Gradio's upload cache (the server
points GRADIO_TEMP_DIR at it, so Gradio serves the results from there without copying them) and `results/`.

- An upload is held by the page that shows it, from its upload (or recording) on, and by the request that
  analyses it, from the button's press on; it is deleted when nothing holds it any more: once its result is
  ready (or its check failed), or when the page shows another video or none and no request needs it, or when the
  page is closed. Gradio names an upload by its content, so two pages that upload the same file share one path;
  the file goes when the last holder lets go.
- A preview (a copy the browser can play, of an upload it cannot: inference/web_preview.py) gets a folder of its
  own under `previews/`; it stands for its upload (holding it holds the upload) and goes with it.
- A result (the annotated video, the timeline, the predictions) gets a folder of its own, deleted when the same
  page asks for its next result or is closed.
"""

import contextlib
import shutil
import tempfile
import threading
from collections import Counter
from pathlib import Path


class ServerFiles:
    def __init__(self, prefix="mae-dfer-web-"):
        self.root = Path(tempfile.mkdtemp(prefix=prefix))  # mode 0700: this user only
        self.results = self.root / "results"
        self.previews = self.root / "previews"
        self.results.mkdir()
        self.previews.mkdir()
        self._lock = threading.Lock()
        self._holders = Counter()  # upload path -> how many hold it
        self._held = {}  # holder (a page, or a page's request) -> the upload it holds
        self._result_of = {}  # session -> its latest result folder
        self._original_of = {}  # preview path -> the upload it shows

    def new_preview(self, upload):
        """A path for a preview of `upload` (an .mp4 in an empty folder of its own), standing for `upload` from
        now on; deleted with it."""
        with self._lock:
            preview = Path(tempfile.mkdtemp(dir=self.previews)) / f"{Path(upload).stem}.mp4"
            self._original_of[str(preview)] = str(upload)
            return preview

    def original(self, path):
        """The upload `path` stands for: the one it previews, else itself."""
        with self._lock:
            return self._original_of.get(str(path), str(path))

    def show(self, session, upload):
        """`session`'s page shows `upload` (None: no video): it holds that file, and lets go of the one before."""
        self._hold(session, upload)

    def claim(self, session, upload):
        """`session`'s page asks for `upload` to be analysed: its request holds the file until done()."""
        self._hold(f"{session} request", upload)

    def done(self, session):
        """`session`'s request has its result (or failed): its page shows no video now; the upload goes, unless
        another page holds it too."""
        self._hold(session, None)
        self._hold(f"{session} request", None)

    def new_result(self, session):
        """An empty folder for `session`'s next result; its previous result is deleted."""
        with self._lock:
            self._remove(self._result_of.pop(session, None))
            folder = Path(tempfile.mkdtemp(dir=self.results))
            self._result_of[session] = folder
            return folder

    def end_session(self, session):
        """The page was closed: its upload and its result go (a request of it still in the queue finds its file
        gone and fails unseen)."""
        self.done(session)
        with self._lock:
            self._remove(self._result_of.pop(session, None))

    def remove_all(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def _hold(self, holder, upload):
        """`holder` now keeps `upload` (None: nothing); what it held before is let go, and deleted when nothing
        holds it any more (with Gradio's folder around it, once empty)."""
        with self._lock:
            upload = None if upload is None else self._original_of.get(str(upload), str(upload))
            previous = self._held.pop(holder, None)
            if upload is not None:
                self._held[holder] = upload
                self._holders[upload] += 1
            if previous is None:
                return
            self._holders[previous] -= 1
            if self._holders[previous] > 0:
                return
            del self._holders[previous]
            Path(previous).unlink(missing_ok=True)
            if Path(previous).parent != self.root:
                with contextlib.suppress(OSError):  # another upload with the same content still in it
                    Path(previous).parent.rmdir()
            for preview in [p for p, u in self._original_of.items() if u == previous]:
                del self._original_of[preview]
                self._remove(Path(preview).parent)

    @staticmethod
    def _remove(folder):
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
