"""A process-wide bound on file analyses running at once, with a visible first-come queue.

A photo, audio or video analysis holds its decoded media (a 50 Mpx photo is ~350 MB while it is
converted), so N visitors uploading at once would need N times that. Every page (and later the
HTTP service) takes a slot from the one :func:`analysis_slots` of its process before it
decodes anything: at most ``Settings.max_concurrent_analyses`` run, at most
``Settings.max_queued_analyses`` wait (told their place in the queue), and the others are told
the server is busy (:class:`ServerBusy`). A finished analysis hands its memory back to the
operating system (:func:`emotion.memory.release_memory`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator

from .errors import EmotionError
from .memory import release_memory


class ServerBusy(EmotionError):
    """No analysis slot: the queue is full, or the wait was longer than allowed. The message
    says so and asks to try again."""


class AnalysisSlots:
    """At most ``limit`` holders at once, granted in the order asked (a ticket queue); at most
    ``max_waiting`` wait. Thread-safe.

    Args:
        limit: analyses at once (>= 1); max_waiting: analyses that may wait (>= 0).
    """

    def __init__(self, limit: int, max_waiting: int):
        if limit < 1 or max_waiting < 0:
            raise ValueError(f"limit must be >= 1 and max_waiting >= 0, got {limit}, {max_waiting}")
        self.limit, self.max_waiting = int(limit), int(max_waiting)
        self._cond = threading.Condition()
        self._running = 0
        self._queue: deque[object] = deque()

    @property
    def running(self) -> int:
        """Analyses holding a slot now."""
        with self._cond:
            return self._running

    @property
    def waiting(self) -> int:
        """Analyses waiting for a slot now."""
        with self._cond:
            return len(self._queue)

    @contextlib.contextmanager
    def slot(
        self, timeout_s: float, on_wait: Callable[[int], None] | None = None, poll_s: float = 0.5, release: bool = True
    ) -> Iterator[None]:
        """Hold a slot for the ``with`` block; with ``release``, the memory the block freed is
        handed back to the operating system when it ends (``malloc_trim``: about 0.2 s in a busy
        server process, worth it after a large file, not after a small photo).

        While waiting, ``on_wait(ahead)`` is called at once and then every ``poll_s`` seconds
        with the number of analyses ahead (running ones not counted: those waiting before this
        one, + 1 for the slot itself); an exception it raises (a page's rerun) leaves the queue.

        Raises:
            ServerBusy: ``max_waiting`` analyses already wait, or no slot came within
                ``timeout_s`` seconds.
        """
        ticket = object()
        deadline = time.monotonic() + timeout_s
        with self._cond:
            if self._running >= self.limit or self._queue:
                if len(self._queue) >= self.max_waiting:
                    raise ServerBusy(
                        f"the server is busy: {self._running} analyses are running and {len(self._queue)} waiting; "
                        "try again in a minute"
                    )
            self._queue.append(ticket)
        try:
            while True:
                with self._cond:
                    if self._queue[0] is ticket and self._running < self.limit:
                        self._queue.popleft()
                        self._running += 1
                        break
                    ahead = self._queue.index(ticket) + 1
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise ServerBusy(
                            f"the server is busy: no analysis slot came free in {timeout_s:.0f} s "
                            f"({self.limit} run at once); try again in a minute"
                        )
                if on_wait is not None:
                    on_wait(ahead)
                with self._cond:
                    self._cond.wait(min(poll_s, max(left, 0.0)))
        except BaseException:
            with self._cond:
                if ticket in self._queue:
                    self._queue.remove(ticket)
                    self._cond.notify_all()
            raise
        try:
            yield
        finally:
            with self._cond:
                self._running -= 1
                self._cond.notify_all()
            if release:
                release_memory()


_lock = threading.Lock()
_slots: AnalysisSlots | None = None


def analysis_slots(limit: int, max_waiting: int) -> AnalysisSlots:
    """The process's one :class:`AnalysisSlots` (made on first use with ``limit`` and
    ``max_waiting``: ``Settings.max_concurrent_analyses``, ``max_queued_analyses``); later calls
    with other numbers get the same object."""
    global _slots
    with _lock:
        if _slots is None:
            _slots = AnalysisSlots(limit, max_waiting)
        return _slots
