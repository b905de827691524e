"""Handing freed memory back to the operating system (glibc).

A Python process that decoded a large photo or video frees the arrays afterwards, but glibc's
allocator keeps much of that memory mapped for reuse: its threshold for serving large blocks
by ``mmap`` (returned at once on free) rises to 32 MB after the first large frees, and the heaps
of its per-thread arenas are only shrunk by ``malloc_trim``. A server with many threads
(Streamlit) then stays gigabytes above idle after its visitors leave. :func:`keep_large_blocks_returnable`
fixes the threshold at 128 KiB (glibc's initial value; a fixed value turns the dynamic rise
off, ``mallopt(3)``), and :func:`release_memory` runs the garbage collector and
``malloc_trim(0)`` on every arena. Elsewhere than glibc (macOS, musl) both do nothing but the
collection.

Arenas: glibc gives threads that contend for the heap arenas of their own, up to 8 per core.
With three live dashboard sessions on a 2-core server (about 70 threads: WebRTC, decoders, the
face and speech workers) the server's resident memory rose about 50 MB a minute and did not
come back with ``malloc_trim``: the small blocks of many threads fragment many arenas (the same
frames and speech fed to the library in one process stayed flat). With the arenas capped at 2
(:func:`limit_arenas`, ``mallopt(M_ARENA_MAX, 2)``, what ``MALLOC_ARENA_MAX=2`` does) the same
three-session load test rose +1.5 MB between the middle and the last third of its run, against
+53 MB without (``tests/test_load.py``, this machine, 2026-12-03). It costs a little lock
contention in malloc, which the measured frame rates did not show.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import threading

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3
"""``mallopt`` parameter number of the mmap threshold (glibc's malloc.h)."""
MMAP_THRESHOLD_BYTES = 128 * 1024
M_ARENA_MAX = -8
"""``mallopt`` parameter number of the arena limit (glibc's malloc.h)."""
SERVER_ARENAS = 2

_libc = None
_lock = threading.Lock()


def _glibc():
    global _libc
    with _lock:
        if _libc is None:
            try:
                lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                _libc = lib if hasattr(lib, "malloc_trim") and hasattr(lib, "mallopt") else False
            except OSError:
                _libc = False
        return _libc or None


def keep_large_blocks_returnable() -> bool:
    """Serve every block of 128 KiB or more by ``mmap``, so it goes back to the operating system
    when freed (``mallopt(M_MMAP_THRESHOLD, 128 KiB)``). True when glibc took it."""
    libc = _glibc()
    if libc is None:
        return False
    return bool(libc.mallopt(ctypes.c_int(M_MMAP_THRESHOLD), ctypes.c_int(MMAP_THRESHOLD_BYTES)))


def limit_arenas(arenas: int = SERVER_ARENAS) -> bool:
    """Let glibc create at most ``arenas`` heap arenas from now on (``mallopt(M_ARENA_MAX, n)``;
    see the module's docstring). Call it early in a server process, before many threads have
    allocated: arenas that exist already are kept (threads then share them). True when glibc
    took it."""
    libc = _glibc()
    if libc is None:
        return False
    return bool(libc.mallopt(ctypes.c_int(M_ARENA_MAX), ctypes.c_int(int(arenas))))


def release_memory(collect: bool = True) -> bool:
    """Collect garbage (``collect``), then give the free memory of every glibc heap back to the
    operating system (``malloc_trim(0)``). True when glibc released something."""
    if collect:
        gc.collect()
    libc = _glibc()
    if libc is None:
        return False
    return bool(libc.malloc_trim(ctypes.c_size_t(0)))


def start_memory_trimmer(every_s: float = 15.0) -> threading.Thread:
    """A daemon thread that calls ``malloc_trim`` (:func:`release_memory` without a full
    collection, which would cost the live pages CPU) every ``every_s`` seconds: memory freed when
    a server drops a closed session (its uploads, its results) goes back too."""

    def loop() -> None:
        stop = threading.Event()
        while not stop.wait(every_s):
            try:
                release_memory(collect=False)
            except Exception:  # noqa: BLE001 - never let the trimmer die on a platform quirk
                log.debug("release_memory failed", exc_info=True)

    thread = threading.Thread(target=loop, name="memory-trimmer", daemon=True)
    thread.start()
    return thread
