"""The clocks of a live session.

Each live stream (camera, microphone) places its frames by their own timestamps, as seconds since
its first frame (:class:`PacketClock`); the session clock starts (0 s) at the arrival of the first
video or audio frame, whichever came first, and each stream is put on it by the arrival of its
first frame (:meth:`emotion.live.session.LiveSession.snapshot`). So an utterance's
``[start_s, end_s]`` selects the face samples seen while it was spoken, whatever the delays.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from fractions import Fraction

log = logging.getLogger(__name__)


class PacketClock:
    """Media time of one live stream: seconds since its first frame, from the frames' own
    timestamps (pts × time base), so neither the moment a callback runs nor lost packets move
    them. The first frame is anchored at its arrival on ``clock`` (:attr:`started_at`).

    RTP timestamps are 32-bit and start anywhere; they are unwrapped. A live frame cannot be
    ahead of its arrival by more than the first frame's delay; a timestamp that would put it more
    than :attr:`MAX_AHEAD_S` ahead, or that goes back by more than that (a new RTP stream after a
    renegotiation starts at a random timestamp), re-anchors the stream at the frame's arrival.
    Frames without a timestamp are placed at their arrival. Thread-safe.

    Args:
        clock: monotonic clock in seconds (injectable for tests).
    """

    MAX_AHEAD_S = 60.0
    WRAP = 2**32

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """A new stream: the next frame is its first."""
        with self._lock:
            self._started_at: float | None = None
            self._pts0: int | None = None
            self._base = Fraction(0)  # seconds at _pts0 (after re-anchoring)
            self._last_ticks = 0
            self._last_s = 0.0

    @property
    def started_at(self) -> float | None:
        """Clock time (s) at which the first frame of this stream arrived, or None before it."""
        with self._lock:
            return self._started_at

    def seconds(self, pts: int | None, time_base: Fraction | None) -> float:
        """Seconds since this stream's first frame of the frame with ``pts`` in ``time_base``."""
        now = self.clock()
        with self._lock:
            if self._started_at is None:
                self._started_at = now
            arrived = now - self._started_at
            if pts is None or not time_base:
                self._last_s = arrived
                return arrived
            if self._pts0 is None:
                self._pts0, self._base, self._last_ticks = pts, Fraction(arrived), 0
            ticks = self._unwrap(pts - self._pts0)
            t = float(self._base + ticks * Fraction(time_base))
            if t > arrived + self.MAX_AHEAD_S or t < self._last_s - self.MAX_AHEAD_S:
                log.info("live stream timestamps jumped (%.1f s for a frame that arrived at %.1f s): re-anchored", t, arrived)
                self._pts0, self._base, ticks, t = pts, Fraction(arrived), 0, arrived
            self._last_ticks, self._last_s = ticks, t
            return t

    def _unwrap(self, delta: int) -> int:
        """``delta`` ticks since the first frame, taken as the value nearest the last one modulo 2^32."""
        k = round((self._last_ticks - delta) / self.WRAP)
        return delta + k * self.WRAP
