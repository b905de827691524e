"""Per-session normalisation of voice features: each speaker measured against their own voice.

Emotion corpora differ more by speaker, language and microphone than by emotion. Standardising
each feature over one speaker's own utterances removes much of that (per-speaker normalisation
in training; a session or a file stands for one speaker and one microphone in the app). A new
session has few utterances, so its mean and variance are shrunk toward the training speakers'
average statistics (a prior worth ``shrinkage`` utterances):

    mu  = (n * m_s + k * mu_0) / (n + k)
    var = (n * v_s + k * v_0) / (n + k)
    z   = (x - mu) / sqrt(var)

with m_s, v_s the session's mean and variance over its n utterances so far, mu_0 the mean of
the training speakers' means, v_0 the mean of their within-speaker variances and k the
shrinkage. Measured in ``models_onnx/acoustic_emotion.md``.
"""

from __future__ import annotations

import threading

import numpy as np
from numpy.typing import ArrayLike

from ..errors import InputError


class SessionNormalizer:
    """Running per-feature standardisation over one session's utterances (see the module doc).

    Args:
        prior_mean: mu_0, float [D].
        prior_var: v_0, float [D] (positive).
        shrinkage: k, the prior's weight in utterances (>= 0; 0 with no utterance yet divides by the prior).

    Thread-safe: a live session's speech worker adds while the page may read :attr:`count`.
    """

    def __init__(self, prior_mean: ArrayLike, prior_var: ArrayLike, shrinkage: float):
        self.prior_mean = np.asarray(prior_mean, dtype=np.float64).reshape(-1)
        self.prior_var = np.maximum(np.asarray(prior_var, dtype=np.float64).reshape(-1), 1e-12)
        if self.prior_mean.shape != self.prior_var.shape:
            raise InputError(f"prior mean {self.prior_mean.shape} and variance {self.prior_var.shape} differ")
        self.shrinkage = float(max(shrinkage, 0.0))
        self._lock = threading.Lock()
        self.reset()

    @property
    def dim(self) -> int:
        return len(self.prior_mean)

    @property
    def count(self) -> int:
        """Utterances added so far."""
        return self._n

    def reset(self) -> None:
        """Forget the session (a new speaker or file)."""
        with getattr(self, "_lock", threading.Lock()):
            self._n = 0
            self._sum = np.zeros(self.dim)
            self._sumsq = np.zeros(self.dim)

    def _check(self, X) -> np.ndarray:
        x = np.asarray(X, dtype=np.float64)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise InputError(f"expected features of shape [n, {self.dim}], got {np.shape(X)}")
        return x

    def add(self, X) -> None:
        """Add utterances' features float [n, D] (or one [D]) to the session."""
        x = self._check(X)
        with self._lock:
            self._n += len(x)
            self._sum += x.sum(0)
            self._sumsq += (x**2).sum(0)

    def stats(self) -> tuple[np.ndarray, np.ndarray]:
        """(mu, var) float64 [D] now, shrunk toward the prior."""
        with self._lock:
            n, k = self._n, self.shrinkage
            if n == 0:
                return self.prior_mean.copy(), self.prior_var.copy()
            m = self._sum / n
            v = np.maximum(self._sumsq / n - m**2, 0.0)
        mu = (n * m + k * self.prior_mean) / (n + k)
        var = (n * v + k * self.prior_var) / (n + k)
        return mu, np.maximum(var, 1e-12)

    def __call__(self, X) -> np.ndarray:
        """Standardised features float32, the shape of ``X`` ([n, D] or [D]).

        Raises:
            InputError: not [n, D] or [D].
        """
        x = self._check(X)
        mu, var = self.stats()
        z = ((x - mu) / np.sqrt(var)).astype(np.float32)
        return z[0] if np.ndim(X) == 1 else z
