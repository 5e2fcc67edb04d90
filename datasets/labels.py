"""Class names of every supported dataset, in label-index order. The one place label maps live.

Preprocessing, training logs, confusion matrices and the demo all read these tables.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class LabelMap:
    dataset: str
    classes: tuple[str, ...]
    # Code of each class in the dataset's own files or folders (same order as `classes`).
    codes: tuple[str, ...] = ()

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def index(self, name_or_code: str) -> int:
        """Label index of a class name or dataset code, case-insensitive; ValueError if unknown."""
        key = name_or_code.strip().lower()
        for table in (self.classes, self.codes):
            lowered = [c.lower() for c in table]
            if key in lowered:
                return lowered.index(key)
        raise ValueError(f"unknown {self.dataset} class {name_or_code!r}; known: {', '.join(self.classes)}")


DFEW_CLASSES = ("happy", "sad", "neutral", "angry", "surprise", "disgust", "fear")

LABEL_MAPS = {
    # DFEW codes 1-7 in EmoLabel_DataSplit map to 0-6.
    "dfew": LabelMap("dfew", DFEW_CLASSES, codes=("1", "2", "3", "4", "5", "6", "7")),
    "ferv39k": LabelMap("ferv39k", DFEW_CLASSES),
    "mafw": LabelMap(
        "mafw",
        (
            "anger",
            "disgust",
            "fear",
            "happiness",
            "neutral",
            "sadness",
            "surprise",
            "contempt",
            "anxiety",
            "helplessness",
            "disappointment",
        ),
    ),
    "crema_d": LabelMap(
        "crema_d",
        ("anger", "disgust", "fear", "happiness", "neutral", "sadness"),
        codes=("ANG", "DIS", "FEA", "HAP", "NEU", "SAD"),
    ),
    "ravdess": LabelMap(
        "ravdess",
        ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"),
        codes=("01", "02", "03", "04", "05", "06", "07", "08"),
    ),
    # eNTERFACE05 file names carry two-letter codes: s1_an_1.avi.
    "enterface": LabelMap(
        "enterface",
        ("anger", "disgust", "fear", "happiness", "sadness", "surprise"),
        codes=("an", "di", "fe", "ha", "sa", "su"),
    ),
    # The embedded procedurally generated face-video set uses the DFEW classes.
    "synthetic": LabelMap("synthetic", DFEW_CLASSES),
    # Unlabelled pretraining pools (VoxCeleb2, the synthetic pool): one dummy label 0.
    "voxceleb2": LabelMap("voxceleb2", ("unlabelled",)),
}


def get_label_map(dataset: str) -> LabelMap:
    key = dataset.lower().replace("-", "_")
    if key not in LABEL_MAPS:
        raise ValueError(f"unknown dataset {dataset!r}; known: {', '.join(LABEL_MAPS)}")
    return LABEL_MAPS[key]
