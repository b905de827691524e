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
