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

import torch

from engine.setup import keep_freed_memory
from inference.checkpoints import CHECKPOINT_FOLDER, QUICKSTART_CHECKPOINT
from inference.recognizer import BACKENDS, Recognizer
from inference.web_files import ServerFiles
from models import CheckpointError


def get_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--checkpoint", default=None,
        help=f"fine-tuned model (default: the one in {CHECKPOINT_FOLDER}/, else {QUICKSTART_CHECKPOINT})",
    )  # fmt: skip
    p.add_argument("--backend", default=None, choices=BACKENDS, help="default: onnxruntime for a .onnx, else torch")
    p.add_argument("--labels", default=None, help="class names: dfew, mafw, ferv39k, ... (default: checkpoint's)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument(
        "--detector", default="auto", help="face detector: auto, mtcnn, haar; none when videos are face crops already"
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every network interface)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--max_upload_mb", type=float, default=200.0, help="largest upload accepted")
    p.add_argument("--max_seconds", type=float, default=600.0, help="longest video accepted")
    return p.parse_args(argv)


def main(args):
    recognizer = Recognizer.from_checkpoint(
        args.checkpoint, args.device, args.backend, args.labels, detector=args.detector
    )
    if args.device == "cpu":
        keep_freed_memory()  # after loading: the checkpoint's copy of the weights goes back to the OS
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
