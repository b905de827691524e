"""A lock granted in the order it was asked for.

``threading.Lock`` is not fair: a thread that releases it and asks again at once (an analysis
thread going from one utterance to the next) usually gets it back before the threads already
waiting wake up. With several live sessions sharing one Whisper model, one session could keep
the model for a minute while the others' utterances waited. :class:`FairLock` hands the lock to
the longest waiter on release (a ticket queue), so sessions take turns.
"""

from __future__ import annotations

import threading
from collections import deque


class FairLock:
    """A mutual-exclusion lock granted first come, first served; use it as a context manager.
    Not re-entrant."""

    def __init__(self):
        self._mutex = threading.Lock()
        self._waiters: deque[threading.Event] = deque()
        self._held = False

    def acquire(self) -> None:
        """Wait until every thread that asked before this one has had the lock, then take it."""
        with self._mutex:
            if not self._held:
                self._held = True
                return
            turn = threading.Event()
            self._waiters.append(turn)
        turn.wait()  # the releasing thread hands the lock over: it stays held

    def release(self) -> None:
        """Hand the lock to the longest waiter, or free it.

        Raises:
            RuntimeError: the lock is not held.
        """
        with self._mutex:
            if not self._held:
                raise RuntimeError("release of an unheld FairLock")
            if self._waiters:
                self._waiters.popleft().set()
            else:
                self._held = False

    def __enter__(self) -> FairLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
