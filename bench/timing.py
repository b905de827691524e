"""Timing helpers for the benchmarks: median and p95 of repeated calls."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def measure(fn: Callable[[], object], n: int, warmup: int = 5) -> np.ndarray:
    """Wall-clock seconds of ``n`` calls of ``fn`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    out = np.empty(n)
    for i in range(n):
        t0 = time.perf_counter()
        fn()
        out[i] = time.perf_counter() - t0
    return out


def summary_ms(seconds: np.ndarray) -> str:
    """``"median X ms, p95 Y ms (n=N)"``."""
    return f"median {np.median(seconds) * 1e3:.2f} ms, p95 {np.percentile(seconds, 95) * 1e3:.2f} ms (n={len(seconds)})"
