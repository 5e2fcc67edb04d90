"""DFER metrics on whole-test-set predictions: UAR (mean per-class recall), WAR (accuracy), macro F1."""

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score


def classification_metrics(labels, preds, num_classes):
    """UAR, WAR and macro F1 in percent, plus per-class recall and the confusion matrix.

    Classes absent from `labels` are left out of the UAR mean (their recall is undefined).
    """
    labels, preds = np.asarray(labels), np.asarray(preds)
    matrix = confusion_matrix(labels, preds, labels=list(range(num_classes)))
    support = matrix.sum(axis=1)
    present = support > 0
    recall = np.divide(matrix.diagonal(), support, out=np.zeros(num_classes), where=present)
    return {
        "uar": 100.0 * float(recall[present].mean()) if present.any() else 0.0,
        "war": 100.0 * float(matrix.diagonal().sum() / max(matrix.sum(), 1)),
        "macro_f1": 100.0 * float(f1_score(labels, preds, labels=np.flatnonzero(present), average="macro")),
        "per_class_recall": [100.0 * float(r) for r in recall],
        "confusion_matrix": matrix.tolist(),
        "num_samples": int(len(labels)),
    }


def plot_confusion_matrix(matrix, class_names, path, title=""):
    """Row-normalised confusion matrix with class names, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = np.asarray(matrix, dtype=float)
    rows = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    size = 1.0 + 0.6 * len(class_names)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    image = ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(class_names)):
        for j in range(len(class_names)):
            color = "white" if normalised[i, j] > 0.5 else "black"
            ax.text(
                j, i, f"{normalised[i, j]:.2f}\n{int(matrix[i, j])}", ha="center", va="center", fontsize=7, color=color
            )
    ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
