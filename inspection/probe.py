"""Linear probe and k-NN on frozen per-video features (inspection/features.py), reported as fine-tuning reports.

Contract: a probe gets (train, val, test) feature dicts (`load_features` or `features_in_memory`), fits on
train, picks its one hyper-parameter on the validation UAR, and predicts test: `probe_split(...)` returns
(metrics, table) in the form of `engine.evaluate.evaluate`, plus the choice it made; `write_report` writes
pred.csv, metrics.json and confusion_matrix.png under <run>/test_eval/, where `python -m engine.aggregate
<run per fold> --checkpoint eval` makes the per-fold table.

Probes (scikit-learn), on features standardised with the training split's mean and std:
- linear: multinomial logistic regression, inverse regularisation C chosen from C_GRID on val UAR;
- knn: k nearest neighbours by cosine distance, majority vote, k chosen from K_GRID on val UAR;
- head: the fine-tuned classifier's own probabilities (features extracted --with_head), nothing fit.
Feature variants: 'pooled' is [mean of the region tokens, mean of the local tokens]; 'temporal' appends the
mean local token of the later half of the clip minus that of the earlier half. Averaging over time alone
forgets in which direction an expression changes (onset and offset look alike); the difference keeps it.
"""

import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from engine.distributed import is_main_process, unwrap
from engine.evaluate import write_test_outputs
from engine.metrics import classification_metrics
from inspection.features import FeatureSettings, features_in_memory, load_features, test_dataset
from models.pretrained import Encoder

PROBES = ("linear", "knn", "head")
VARIANTS = ("pooled", "temporal")
C_GRID = tuple(10.0**k for k in range(-4, 3))
K_GRID = (1, 3, 5, 10, 20, 50)
TAG = "eval"  # test_eval/, the folder name run_finetuning.py --eval writes and engine.aggregate reads


class ProbeError(ValueError):
    """Features a probe cannot use; the message is one line."""


def feature_matrix(features, variant="pooled"):
    """(V, D) probe input from per-video region (V, M, C) and per-time-slice local (V, t, C) tokens."""
    if variant not in VARIANTS:
        raise ProbeError(f"unknown feature variant {variant!r}; known: {', '.join(VARIANTS)}")
    region, local = features["region"], features["local"]
    parts = [region.mean(1)] if region.shape[1] else []
    parts.append(local.mean(1))
    if variant == "temporal":
        half = local.shape[1] // 2
        parts.append(local[:, half:].mean(1) - local[:, :half].mean(1))
    return np.concatenate(parts, axis=1).astype(np.float64)


def _classifier(probe, value):
    if probe == "linear":
        return LogisticRegression(C=value, max_iter=2000)
    return KNeighborsClassifier(n_neighbors=value, metric="cosine", algorithm="brute")


def _probabilities(model, x, num_classes):
    """(V, num_classes) probabilities; classes the training split lacks get 0."""
    probs = np.zeros((len(x), num_classes))
    probs[:, model.classes_] = model.predict_proba(x)
    return probs


def probe_split(probe, variant, train, val, test, num_classes):
    """Fit on train, choose the hyper-parameter on val, predict test: (metrics, table, choice)."""
    if probe == "head":
        if "probs" not in test:
            raise ProbeError("the head probe needs features extracted with --with_head from a fine-tuned checkpoint")
        probs, choice = test["probs"], {}
    else:
        if val is None:
            raise ProbeError(f"the {probe} probe chooses its {'C' if probe == 'linear' else 'k'} on val features")
        scaler = StandardScaler().fit(feature_matrix(train, variant))
        x_train, x_val, x_test = (scaler.transform(feature_matrix(f, variant)) for f in (train, val, test))
        grid = C_GRID if probe == "linear" else [k for k in K_GRID if k <= len(x_train)]
        scores = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for value in grid:
                model = _classifier(probe, value).fit(x_train, train["label"])
                scores[value] = classification_metrics(val["label"], model.predict(x_val), num_classes)["uar"]
            best = max(grid, key=lambda v: scores[v])  # the first best: the strongest regularisation, fewest k
            model = _classifier(probe, best).fit(x_train, train["label"])
        probs = _probabilities(model, x_test, num_classes)
        choice = {"C" if probe == "linear" else "k": best, "val_uar": scores[best], "val_uar_grid": scores}
    metrics = classification_metrics(test["label"], probs.argmax(1), num_classes)
    unreadable = list(test.get("unreadable", []))  # left out of the features, reported as evaluation does
    metrics.update(num_videos=len(test["label"]) + len(unreadable), unreadable=unreadable)
    table = {"video": test["video"], "path": test["path"], "probs": probs, "label": test["label"]}
    return metrics, table, choice


def write_report(run_dir, metrics, table, class_names, extra):
    """pred.csv, metrics.json and confusion_matrix.png under <run_dir>/test_eval/, as fine-tuning writes them."""
    title = f"{run_name(extra['probe'], extra['variant'])}: UAR {metrics['uar']:.2f}, WAR {metrics['war']:.2f}"
    folder = Path(run_dir) / f"test_{TAG}"
    return write_test_outputs(folder, metrics, table, class_names, TAG, title, {"probe": extra})


def run_name(probe, variant):
    return "head" if probe == "head" else f"{probe}_{variant}"


def load_fold(folder):
    """train/val/test features of one fold folder (extract_features.py on a split folder); val may be absent."""
    folder = Path(folder)
    if folder.is_file():
        raise ProbeError(f"{folder}: is a file; give the folder extract_features.py wrote (train/, val/, test/)")
    missing = [s for s in ("train", "test") if not (folder / s).is_dir()]
    if missing:
        raise ProbeError(f"{folder}: holds no {' or '.join(m + '/' for m in missing)} features (extract_features.py)")
    splits = {s: load_features(folder / s) if (folder / s).is_dir() else None for s in ("train", "val", "test")}
    return splits["train"], splits["val"], splits["test"]


def probe_folds(fold_dirs, output_dir, probes=("linear", "knn"), variants=VARIANTS, num_classes=None, classes=None):
    """Every probe and variant on every fold: reports under <output_dir>/<probe>_<variant>/<fold>/test_eval/.
    Returns {run name: [fold run folders]} for engine.aggregate."""
    names = [Path(d).name for d in fold_dirs]
    if len(set(names)) != len(names):
        raise ProbeError(f"fold folders need distinct names, got {', '.join(names)}")
    folds = {name: load_fold(d) for name, d in zip(names, fold_dirs, strict=True)}
    if num_classes is None:
        num_classes = 1 + max(int(f["label"].max()) for fold in folds.values() for f in fold if f is not None)
    classes = list(classes) if classes else [str(k) for k in range(num_classes)]
    runs = {}
    for probe in probes:
        for variant in variants if probe != "head" else [None]:
            name = run_name(probe, variant)
            for fold, (train, val, test) in folds.items():
                metrics, table, choice = probe_split(probe, variant, train, val, test, num_classes)
                extra = {"probe": probe, "variant": variant, "features": str(fold_dirs[names.index(fold)]), **choice}
                runs.setdefault(name, []).append(
                    write_report(Path(output_dir) / name / fold, metrics, table, classes, extra).parent
                )
                summary = ", ".join(f"{k.upper()} {metrics[k]:.2f}" for k in ("uar", "war", "macro_f1"))
                print(f"{name} on {fold}: test {summary}")
    return runs


class PretrainingProbe:
    """`run_pretraining.py --probe_every N --probe_data <split folder>`: after every N-th epoch the encoder being
    trained is probed (linear, both variants) on the folder's train/val/test.csv through the test pipeline
    (2 temporal views, 1 crop), features computed across all ranks. Returns {"probe_<variant>_val_uar": ..,
    "probe_<variant>_test_uar": ..} for the epoch's log.txt line, and writes the same to tensorboard as
    probe/<variant>_val_uar, ...; without test.csv the val UAR alone. Other epochs and ranks get {}."""

    def __init__(self, split_folder, every, input_shape, sampling_rate, run, **loader):
        """`run`: the training run's device, amp_dtype and logger (engine.run.Run); `loader`: FeatureSettings'
        batch_size, num_workers, pin_memory."""
        folder = Path(split_folder or "")
        missing = [f"{s}.csv" for s in ("train", "val") if not (folder / f"{s}.csv").is_file()]
        if split_folder is None or missing:
            raise ProbeError(f"--probe_every needs --probe_data: a split folder with train.csv and val.csv ({folder})")
        self.every, self.device, self.amp_dtype, self.logger = every, run.device, run.amp_dtype, run.logger
        self.settings = FeatureSettings(sampling_rate=sampling_rate, test_num_segment=2, test_num_crop=1, **loader)
        splits = [s for s in ("train", "val", "test") if (folder / f"{s}.csv").is_file()]
        self.datasets = {
            s: test_dataset(folder / f"{s}.csv", input_shape, self.settings, sampling_rate) for s in splits
        }

    def __call__(self, epoch, model):
        if self.every <= 0 or (epoch + 1) % self.every:
            return {}
        encoder = Encoder(unwrap(model).encoder, "pretrain")
        training = encoder.trunk.training
        features = {
            split: features_in_memory(encoder, data, self.settings, self.device, self.amp_dtype, desc=f"probe {split}")
            for split, data in self.datasets.items()
        }
        encoder.trunk.train(training)
        if not is_main_process():
            return {}
        num_classes = 1 + max(int(f["label"].max()) for f in features.values())
        record = {}
        for variant in VARIANTS:
            test = features.get("test", features["val"])
            metrics, _, choice = probe_split("linear", variant, features["train"], features["val"], test, num_classes)
            record[f"{variant}_val_uar"] = choice["val_uar"]
            if "test" in features:
                record[f"{variant}_test_uar"] = metrics["uar"]
        if self.logger is not None:
            self.logger.scalars(epoch, "probe", record)
        print(f"epoch {epoch} linear probe UAR: " + ", ".join(f"{k[:-4]} {v:.2f}" for k, v in record.items()))
        return {f"probe_{k}": v for k, v in record.items()}
