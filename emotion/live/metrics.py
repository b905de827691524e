"""Latency of a live session, measured on the session's own clock.

- analysis latency (:func:`analysis_latencies`): seconds from the arrival of the end of an
  utterance's audio to its result (transcript and emotions);
- end-of-utterance -> on-page latency (:class:`ShownLatencies`): seconds from that arrival to the
  moment the page first showed its result.

``bench/bench_live.py`` prints their median and p95; no test times them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable

from .speech import SpeechSnapshot


def analysis_latencies(speech: SpeechSnapshot) -> tuple[float | None, ...]:
    """Per utterance of ``speech`` (same order), seconds from the arrival of the end of its audio
    to its result, or None when unknown."""
    return tuple(
        None if arrived is None else ready - arrived
        for arrived, ready in zip(speech.end_arrived_at, speech.ready_at, strict=True)
    )


class ShownLatencies:
    """When the page first showed each utterance, as seconds after the end of its audio arrived.
    Thread-safe; bounded (entries of utterances no longer shown are pruned).

    Args:
        clock: the session's monotonic clock in seconds.
    """

    def __init__(self, clock: Callable[[], float]):
        self.clock = clock
        self._lock = threading.Lock()
        self._shown: dict[Hashable, float | None] = {}

    def mark(self, utterances: Iterable[tuple[Hashable, float | None]]) -> tuple[float | None, ...]:
        """Record that the page shows now the utterances given as (key, arrival of the end of its
        audio on the clock, or None). Returns each one's latency in seconds (None when unknown);
        an utterance is timed the first time only."""
        now = self.clock()
        out, keys = [], set()
        with self._lock:
            for key, arrived in utterances:
                keys.add(key)
                if key not in self._shown:
                    self._shown[key] = None if arrived is None else now - arrived
                out.append(self._shown[key])
            if len(self._shown) > 2 * len(keys) + 100:  # utterances dropped from the speech history
                for k in [k for k in self._shown if k not in keys]:
                    del self._shown[k]
        return tuple(out)

    def values(self) -> list[float]:
        """The latencies recorded so far (seconds), for the recent utterances; marks nothing."""
        with self._lock:
            return [v for v in self._shown.values() if v is not None]

    def clear(self) -> None:
        with self._lock:
            self._shown.clear()
