"""Time series of emotion probabilities, safe to write from a WebRTC worker
thread and read from the page."""

from __future__ import annotations

import threading
from collections import deque

import numpy as np

from .labels import NUM_EMOTIONS


class ProbabilityTrend:
    """A rolling window of (time in seconds, probabilities [7]) samples.

    Args:
        window_s: samples older than this many seconds before the newest are dropped.
        max_samples: hard cap on stored samples (bounded memory at any frame rate).

    ``add`` and ``snapshot`` may be called from different threads.
    """

    def __init__(self, window_s: float = 60.0, max_samples: int = 5000):
        self.window_s = float(window_s)
        self._lock = threading.Lock()
        self._samples: deque[tuple[float, np.ndarray]] = deque(maxlen=max_samples)

    def add(self, t: float, probabilities: np.ndarray) -> None:
        """Append one sample at ``t`` seconds; ``probabilities`` float (7,)."""
        p = np.asarray(probabilities, dtype=np.float32).reshape(NUM_EMOTIONS)
        with self._lock:
            self._samples.append((float(t), p))
            while self._samples and self._samples[0][0] < t - self.window_s:
                self._samples.popleft()

    def snapshot(self) -> tuple[np.ndarray, np.ndarray]:
        """(times float64 [n] seconds, probabilities float32 [n, 7]), oldest first."""
        with self._lock:
            samples = list(self._samples)
        if not samples:
            return np.zeros(0), np.zeros((0, NUM_EMOTIONS), np.float32)
        return np.array([s[0] for s in samples]), np.stack([s[1] for s in samples])

    def clear(self) -> None:
        with self._lock:
            self._samples.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._samples)
