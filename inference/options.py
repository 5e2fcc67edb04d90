"""The command-line flags that choose and set up the recognizer, shared by demo.py, batch.py and webapp.py."""

import torch

from inference.checkpoints import CHECKPOINT_FOLDER, QUICKSTART_CHECKPOINT
from inference.model_cache import cache_folder
from inference.precision import PRECISIONS
from inference.recognizer import FACES, Recognizer
from system.memory import keep_freed_memory


def add_recognizer_arguments(parser, per_video=True):
    """The model flags; with `per_video` also the settings of each analysis (webapp.py has those on its page)."""
    parser.add_argument(
        "--checkpoint", default=None,
        help=f"fine-tuned model (default: the one in {CHECKPOINT_FOLDER}/, else {QUICKSTART_CHECKPOINT})",
    )  # fmt: skip
    parser.add_argument(
        "--precision", default="auto", choices=PRECISIONS,
        help="numeric path: auto picks the fastest that keeps the model's decisions on this machine (bf16 on CPUs "
        "with bf16 instructions or on GPUs, else float32); int8 runs ONNX Runtime; an .onnx file runs as exported",
    )  # fmt: skip
    parser.add_argument(
        "--cache_dir", default=None,
        help=f"where models built for a precision (int8 ONNX) are kept (default: $MAE_DFER_CACHE or {cache_folder()})",
    )  # fmt: skip
    parser.add_argument("--labels", default=None, help="class names: dfew, mafw, ferv39k, ... (default: checkpoint's)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--detector", default="auto", help="face detector: auto, mtcnn, haar; none when frames are face crops already"
    )
    if not per_video:
        return
    parser.add_argument("--stride", type=int, default=None, help="frame step inside a window (default: checkpoint's)")
    parser.add_argument("--hop", type=int, default=16, help="frames between window starts")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--detect_every", type=int, default=5, help="detect on every k-th frame, track the rest")
    parser.add_argument("--faces", default="all", choices=FACES, help="every person, or the one with the most face")
    parser.add_argument(
        "--min_face", type=int, default=40, help="smallest face side analysed, in pixels of the frame at 640 at most"
    )
    parser.add_argument(
        "--margin", type=float, default=None,
        help="crop side = (1 + margin) x the face box's longer side (default: as the checkpoint's training set: 0 "
        "for the generated faces, else 0.3)",
    )  # fmt: skip


def recognizer_from_args(args):
    """The Recognizer the flags describe, printing the numeric path it took; on a CPU, malloc then keeps freed
    memory (engine.setup)."""
    settings = ("hop", "batch_size", "detect_every", "faces", "min_face", "margin")
    options = {name: getattr(args, name) for name in settings if hasattr(args, name)}
    recognizer = Recognizer.from_checkpoint(
        args.checkpoint, args.device, args.labels, getattr(args, "stride", None), args.precision, args.cache_dir,
        detector=args.detector, **options,
    )  # fmt: skip
    print(recognizer.precision)
    if args.device == "cpu":
        keep_freed_memory()  # after loading: the checkpoint's copy of the weights goes back to the OS
    return recognizer
