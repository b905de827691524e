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


ECE_BINS = 15


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of logits float [n, k]."""
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """Temperature minimising the negative log-likelihood of labels ``y`` int [n] under
    ``softmax(logits / T)`` (Guo et al. 2017). Rows whose true class has no finite logit (a class a
    fold never trained on, logit <= -1e8) are left out."""
    from scipy.optimize import minimize_scalar

    ok = logits[np.arange(len(y)), y] > -1e8
    z, t = logits[ok], y[ok]

    def nll(log_t):
        p = softmax(z / np.exp(log_t))
        return -np.mean(np.log(p[np.arange(len(t)), t] + 1e-12))

    return float(np.exp(minimize_scalar(nll, bounds=(-3, 3), method="bounded").x))


def ece(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error (Naeini et al. 2015; Guo et al. 2017): the top label's
    probabilities ``confidence`` float [n] against whether it was right, ``correct`` bool [n],
    in ``bins`` equal-width bins."""
    conf, correct = np.asarray(confidence, float), np.asarray(correct, bool)
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            total += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(total)


def top_label_ece(probs: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> float:
    """:func:`ece` of probabilities float [n, k] against labels int [n]."""
    return ece(probs.max(1), probs.argmax(1) == np.asarray(y), bins)
