"""Classification metrics written to every metrics.json, computed with scikit-learn.

One function so CV folds, the final model, TFLite variants and the mobile emulation all
report the same quantities the same way.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    classification_report,
    confusion_matrix,
    log_loss,
    roc_auc_score,
)


def _finite_or_none(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def classification_metrics(
    y_true: np.ndarray, probabilities: np.ndarray, labels: list[str], positive_index: int = 1
) -> dict:
    """Accuracy, loss, per-class and averaged precision/recall/F1, confusion matrix, AUC.

    For two classes, ``positive_index`` names the "disease" class for TP/FP/TN/FN,
    sensitivity and specificity. AUC is binary (positive class) or one-vs-rest macro;
    it is ``None`` when the test part lacks a class (AUC is undefined there).
    """
    y_true = np.asarray(y_true, dtype=int)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    n_classes = len(labels)
    y_pred = probabilities.argmax(axis=1)
    indices = list(range(n_classes))
    report = classification_report(
        y_true, y_pred, labels=indices, target_names=labels, output_dict=True, zero_division=0
    )
    matrix = confusion_matrix(y_true, y_pred, labels=indices)
    clipped = np.clip(probabilities, 1e-7, 1.0)
    clipped /= clipped.sum(axis=1, keepdims=True)
    result: dict = {
        "n_images": len(y_true),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "loss": float(log_loss(y_true, clipped, labels=indices)),
        "per_class": {
            name: {
                "precision": report[name]["precision"],
                "recall": report[name]["recall"],
                "f1": report[name]["f1-score"],
                "support": int(report[name]["support"]),
            }
            for name in labels
        },
        "macro_f1": report["macro avg"]["f1-score"],
        "macro_precision": report["macro avg"]["precision"],
        "macro_recall": report["macro avg"]["recall"],
        "weighted_f1": report["weighted avg"]["f1-score"],
        "weighted_precision": report["weighted avg"]["precision"],
        "weighted_recall": report["weighted avg"]["recall"],
        "confusion_matrix": matrix.tolist(),
        "auc": None,
    }
    present = np.unique(y_true)
    if n_classes == 2:
        tp = int(matrix[positive_index, positive_index])
        fn = int(matrix[positive_index].sum() - tp)
        fp = int(matrix[:, positive_index].sum() - tp)
        tn = int(matrix.sum() - tp - fn - fp)
        result.update(
            positive_class=labels[positive_index],
            tp=tp,
            fp=fp,
            tn=tn,
            fn=fn,
            sensitivity=_finite_or_none(tp / (tp + fn)) if tp + fn else None,
            specificity=_finite_or_none(tn / (tn + fp)) if tn + fp else None,
        )
        if len(present) == 2:
            positive = (y_true == positive_index).astype(int)
            result["auc"] = float(roc_auc_score(positive, probabilities[:, positive_index]))
    elif len(present) == n_classes:
        result["auc"] = float(
            roc_auc_score(y_true, clipped, multi_class="ovr", average="macro", labels=indices)
        )
    return result
