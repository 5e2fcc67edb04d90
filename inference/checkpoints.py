"""Which fine-tuned model the demo and the Python API use when none is named, and what it was trained on.

Without a path: the one model file in `checkpoint/` (the original MAE-DFER README's convention: place the
fine-tuned model there, run `python demo.py`), else the quick start's fine-tuned model.
"""

from pathlib import Path

from datasets.synthetic import GENERATED
from datasets.video_io import video_comment
from models import CheckpointError

CHECKPOINT_FOLDER = Path("checkpoint")
QUICKSTART_CHECKPOINT = Path("saved/model/quickstart/finetune_pretrained/checkpoint-best.pth")
MODEL_SUFFIXES = (".pth", ".safetensors", ".onnx")
GENERATED_SET = "synthetic"  # the data_set of a model fine-tuned on the generated faces
FACE_MARGIN = 0.3  # crop side = (1 + margin) x the detected box's longer side, as preprocess/face_crop.py crops


def face_margin(data_set):
    """The crop margin that frames a detected face as the model's training clips were framed: the generated
    faces fill their frames (0: a model of the generated set read 56% of detected faces right at 0, 46% at 0.3);
    other sets as preprocess/face_crop.py crops them."""
    return 0.0 if data_set == GENERATED_SET else FACE_MARGIN


def default_checkpoint(folder=CHECKPOINT_FOLDER, fallback=QUICKSTART_CHECKPOINT):
    """The only model file in `folder`, else `fallback`; CheckpointError when there are several or none."""
    found = sorted(p for p in Path(folder).glob("*") if p.suffix in MODEL_SUFFIXES) if Path(folder).is_dir() else []
    if len(found) == 1:
        return found[0]
    if found:
        names = ", ".join(p.name for p in found)
        raise CheckpointError(f"{folder}/ holds {len(found)} models ({names}); pass --checkpoint to choose one")
    if Path(fallback).exists():
        return Path(fallback)
    raise CheckpointError(
        f"no fine-tuned model: put one in {folder}/, run the quick start (bash scripts/quickstart.sh) "
        "or pass --checkpoint <fine-tuned .pth, .safetensors or .onnx>"
    )


def generated_set_warning(data_set, video):
    """One line when a model fine-tuned on the generated faces is given anything but a generated video, else None."""
    if data_set != GENERATED_SET or (isinstance(video, str | Path) and video_comment(video) == GENERATED):
        return None
    return (
        "this model was fine-tuned on the generated cartoon faces of the quick start: its labels on real faces "
        "mean nothing; for real footage use a DFEW checkpoint (--checkpoint <dfew .pth> --labels dfew)"
    )
