"""Classification metrics over the app's 7 labels, shared by the training and evaluation scripts."""

from __future__ import annotations

import numpy as np

from emotion.labels import EMOTIONS


def confusion(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Confusion matrix int [7, 7]: rows true label, columns predicted, EMOTIONS order."""
    m = np.zeros((len(EMOTIONS), len(EMOTIONS)), np.int64)
    np.add.at(m, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return m


def classification_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """Accuracy, support-weighted F1, macro-F1 (over the 7 labels), per-class recall and the
    confusion matrix of label indices ``y_true``/``y_pred`` int [n]."""
    m = confusion(y_true, y_pred)
    tp = np.diag(m).astype(float)
    support, predicted = m.sum(1), m.sum(0)
    recall = tp / np.maximum(support, 1)
    precision = tp / np.maximum(predicted, 1)
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    return {
        "n": int(len(y_true)),
        "accuracy": round(float((np.asarray(y_true) == np.asarray(y_pred)).mean()), 4),
        "weighted_f1": round(float((f1 * support).sum() / max(support.sum(), 1)), 4),
        "macro_f1": round(float(f1.mean()), 4),
        "recall": {e: round(float(r), 4) for e, r in zip(EMOTIONS, recall, strict=True)},
        "confusion": m.tolist(),
    }


def format_matrix(m: np.ndarray) -> str:
    """A confusion matrix as aligned text, rows true and columns predicted."""
    head = "true\\pred " + " ".join(f"{e[:7]:>8}" for e in EMOTIONS)
    rows = [f"{e:<9} " + " ".join(f"{v:>8d}" for v in row) for e, row in zip(EMOTIONS, m, strict=True)]
    return "\n".join([head, *rows])
