"""One record per dataset: label map, sampling rate, split layout, frame format.

Split files live in `<data_path>/<split>/` as `train.csv`, `val.csv`, `test.csv` (upstream's layout,
`saved/data/<dataset>/.../split0k`). Upstream validates on a copy of the test split; the preprocessing
scripts write val.csv so that this can change per dataset without touching the loaders.
"""

from dataclasses import dataclass

from datasets.labels import get_label_map


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    label_map: str  # key of datasets.labels.LABEL_MAPS
    sampling_rate: int  # stride between the 16 frames of a clip
    frame_ext: str  # how clips are stored: "jpg" / "png" frame folders or "mp4" files
    splits: tuple[str, ...] = ()  # fold folders; () for a dataset with no folds
    train_file: str = "train.csv"
    val_file: str = "val.csv"
    test_file: str = "test.csv"
    pretrain_file: str = ""  # unlabelled pool (label 0), relative to the data root

    @property
    def num_classes(self):
        return get_label_map(self.label_map).num_classes

    @property
    def class_names(self):
        return get_label_map(self.label_map).classes


def _folds(n):
    return tuple(f"split{k:02d}" for k in range(1, n + 1))


DATASET_SPECS = {
    spec.name: spec
    for spec in (
        DatasetSpec("dfew", "dfew", 4, "jpg", _folds(5)),
        DatasetSpec("ferv39k", "ferv39k", 1, "jpg", ("all_scenes",)),
        DatasetSpec("mafw", "mafw", 4, "png", _folds(5)),
        # Lab-controlled sets: upstream ships splits but no script; rate 4 is our choice (25-30 fps, like DFEW).
        DatasetSpec("crema_d", "crema_d", 4, "jpg", _folds(5)),
        DatasetSpec("ravdess", "ravdess", 4, "jpg", _folds(6)),
        DatasetSpec("enterface", "enterface", 4, "jpg", _folds(5)),
        # Generated clips are short (32 frames by default): rate 2 makes one clip span the whole video.
        DatasetSpec("synthetic", "synthetic", 2, "jpg", _folds(5), pretrain_file="pretrain.csv"),
        DatasetSpec("voxceleb2", "voxceleb2", 4, "mp4", pretrain_file="info_clean.csv"),
    )
}


def get_spec(name):
    key = name.lower().replace("-", "_")
    if key not in DATASET_SPECS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASET_SPECS)}")
    return DATASET_SPECS[key]
