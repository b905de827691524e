"""The Whisper models a server shares between its browser sessions (:class:`TranscriberPool`):
the bundled tiny.en always, others by name when the settings allow them, a bounded number at once."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable

from ..config import WHISPER_MODELS
from ..errors import ModelError
from .transcribe import Transcriber

log = logging.getLogger(__name__)


class TranscriberPool:
    """The Whisper models a server shares between its sessions, bounded.

    Args:
        allowed: model names that may be loaded ("" — the bundled tiny.en — always may).
        max_loaded: models besides the bundled one held at once (0: the bundled one only); loading
            another drops the least recently used. A session still using a dropped model keeps it until
            its next utterance.
        backend: as for :class:`Transcriber`.
        threads: as for :class:`Transcriber`.
        loader: ``loader(name) -> Transcriber`` raising ModelError when the model cannot be loaded
            (injectable for tests; default :class:`Transcriber` without fallback).

    :meth:`get` is thread-safe; two sessions asking for the same model load it once, and loading
    one model does not hold up sessions that use another.
    """

    def __init__(
        self,
        allowed: Iterable[str] = WHISPER_MODELS,
        max_loaded: int = 1,
        backend: str = "faster-whisper",
        threads: int = 2,
        loader: Callable[[str], Transcriber] | None = None,
    ):
        if max_loaded < 0:
            raise ValueError(f"max_loaded must be 0 or more, got {max_loaded}")
        self.allowed = tuple(dict.fromkeys(["", *(a.strip() for a in allowed)]))
        self.max_loaded = int(max_loaded)
        self._loader = loader or (lambda name: Transcriber(name, backend, threads, fallback=False))
        self._lock = threading.Lock()
        self._loaded: OrderedDict[str, Transcriber] = OrderedDict()
        self._loading: dict[str, threading.Lock] = {}

    @property
    def loaded(self) -> tuple[str, ...]:
        """Names of the models in memory now, least recently used first."""
        with self._lock:
            return tuple(self._loaded)

    def get(self, name: str = "") -> tuple[Transcriber, str | None]:
        """The transcriber of model ``name``, and None; or the bundled one and a message saying
        why ``name`` is not used (not allowed here, or it could not be loaded).

        Raises:
            ModelError: the bundled model itself cannot be loaded.
        """
        name = (name or "").strip()
        if name not in self.allowed or (name and not self.max_loaded):
            bundled, _ = self.get("")
            return bundled, f"Whisper model {name!r} is not available on this server; the bundled tiny.en is used instead."
        with self._lock:
            if name in self._loaded:
                self._loaded.move_to_end(name)
                return self._loaded[name], None
            loading = self._loading.setdefault(name, threading.Lock())
        with loading:
            with self._lock:
                if name in self._loaded:
                    return self._loaded[name], None
            try:
                transcriber = self._loader(name)
            except ModelError as exc:
                if not name:
                    raise
                log.warning("%s", exc)
                bundled, _ = self.get("")
                return bundled, f"{exc}; the bundled tiny.en is used instead."
            with self._lock:
                self._loaded[name] = transcriber
                others = [n for n in self._loaded if n]
                for old in others[: max(0, len(others) - self.max_loaded)]:
                    del self._loaded[old]
            return transcriber, None
