"""The recognizer as a local web page: upload or record a video, get the annotated video, the timeline per person,
the overall labels, the per-window table and the files to download (inference/web.py; docs/web.md).

    python webapp.py                                     # the model in checkpoint/, else the quick start's
    python webapp.py --checkpoint dfew_fold1.pth --labels dfew --port 8080
    python webapp.py --host 0.0.0.0                      # reachable from other machines: only on a trusted network

Listens on 127.0.0.1 unless told otherwise; uploads are limited in size and length and deleted once analysed.
"""

import argparse
import os
import sys

from inference.options import add_recognizer_arguments, recognizer_from_args
from inference.web_files import ServerFiles
from models import CheckpointError


def get_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_recognizer_arguments(p, per_video=False)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every network interface)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--max_upload_mb", type=float, default=200.0, help="largest upload accepted")
    p.add_argument("--max_seconds", type=float, default=600.0, help="longest video accepted")
    return p.parse_args(argv)


def main(args):
    recognizer = recognizer_from_args(args)
    files = ServerFiles()  # the server's private folder, removed at exit
    try:
        os.environ["GRADIO_TEMP_DIR"] = str(files.root)  # Gradio's upload cache inside it: set before Gradio loads
        os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # nothing leaves this machine
        from inference.web import serve

        serve(recognizer, files, args.host, args.port, args.max_upload_mb, args.max_seconds)
    finally:
        files.remove_all()


if __name__ == "__main__":
    try:
        main(get_args())
    except (CheckpointError, ValueError, OSError) as err:  # OSError: the port is taken
        sys.exit(f"error: {err}")
