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


def apply_correction(logits: np.ndarray, correction: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """``logits * scale + bias`` per class (float [n, k]; ``correction`` = (scale [k], bias [k])).
    Entries at or below -1e8 (a class the model never trained on) stay at -1e9."""
    scale, bias = correction
    out = logits * scale + bias
    out[logits <= -1e8] = -1e9
    return out


def fit_correction(logits: np.ndarray, y: np.ndarray, mode: str, l2: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """A per-class output correction of held-out logits float [n, k] with labels ``y`` int [n],
    fitted by class-balanced negative log-likelihood (each true class weighs the same in total, as
    UAR does), with an L2 penalty ``l2`` on the biases (and, for ``"vector"``, on the spread of the
    log-scales).

    ``mode`` ``"prior"``: one temperature and a bias per class (class-prior correction; Saerens et
    al. 2002 shift the log-priors, here the shift is fitted); ``"vector"``: a scale and a bias per
    class (vector scaling, Guo et al. 2017). Returns (scale float [k], bias float [k]) for
    :func:`apply_correction`. Rows whose true class has no finite logit are left out.

    Raises:
        ValueError: ``mode`` is neither.
    """
    from scipy.optimize import minimize

    if mode not in ("prior", "vector"):
        raise ValueError(f"unknown correction mode {mode!r}")
    ok = logits[np.arange(len(y)), y] > -1e8
    z, t = logits[ok], y[ok]
    finite = z > -1e8
    z0 = np.where(finite, z, 0.0)
    k = z.shape[1]
    _, inv, counts = np.unique(t, return_inverse=True, return_counts=True)
    w = 1.0 / counts[inv]
    w = w / w.sum()
    onehot = np.zeros_like(z0)
    onehot[np.arange(len(t)), t] = 1.0
    n_scale = 1 if mode == "prior" else k

    def unpack(theta):
        log_s = np.broadcast_to(theta[:n_scale], (k,)) if n_scale == 1 else theta[:n_scale]
        return np.exp(log_s), theta[n_scale:], log_s

    def loss(theta):
        s, b, log_s = unpack(theta)
        zz = np.where(finite, z0 * s + b, -1e9)
        zz = zz - zz.max(1, keepdims=True)
        logp = zz - np.log(np.exp(zz).sum(1, keepdims=True))
        p = np.exp(logp)
        nll = -np.sum(w * logp[np.arange(len(t)), t])
        dz = (p - onehot) * w[:, None] * finite
        g_b = dz.sum(0) + 2 * l2 * b
        g_ls = (dz * z0).sum(0) * s
        penalty = l2 * np.sum(b**2)
        if n_scale == 1:
            g_ls = np.array([g_ls.sum()])
        else:
            spread = log_s - log_s.mean()
            penalty += l2 * np.sum(spread**2)
            g_ls = g_ls + 2 * l2 * (spread - spread.mean())
        return nll + penalty, np.concatenate([g_ls, g_b])

    start_t = fit_temperature(logits, y)
    theta0 = np.concatenate([np.full(n_scale, -np.log(start_t)), np.zeros(k)])
    res = minimize(loss, theta0, jac=True, method="L-BFGS-B")
    s, b, _ = unpack(res.x)
    return np.array(s, dtype=np.float64), np.array(b, dtype=np.float64)
