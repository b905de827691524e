"""Who may call the service, and how much at once.

- API keys (``EMOTION_API_KEYS``, comma-separated) in the ``X-API-Key`` header; compared in
  constant time. With no key configured the service is open, and so it may only listen on a
  loopback address (:func:`check_bind`).
- Per key (or per client address when the service is open): at most
  ``EMOTION_SERVE_MAX_REQUESTS_PER_KEY`` requests in flight and
  ``EMOTION_SERVE_MAX_STREAMS_PER_KEY`` open streams; past them, 429 with ``Retry-After``.
- Uploads: a body over ``EMOTION_SERVE_MAX_UPLOAD_BYTES`` is refused (413) before it is parsed
  (:class:`BodyLimit`).
"""

from __future__ import annotations

import hmac
import threading
from collections import Counter
from contextlib import contextmanager

from ..config import Settings, is_loopback
from .problems import ApiError, problem_response

KEY_HEADER = "X-API-Key"
RETRY_AFTER_S = 1
"""``Retry-After`` (seconds) of a 429: a request in flight usually ends within it."""


def check_bind(host: str, settings: Settings) -> None:
    """Refuse to serve an open API (no keys) on anything but a loopback address.

    Raises:
        ValueError: no ``EMOTION_API_KEYS`` and ``host`` is not a loopback address.
    """
    if not settings.api_keys and not is_loopback(host):
        raise ValueError(
            f"refusing to listen on {host!r} without API keys: anyone on the network could use it. "
            "Set EMOTION_API_KEYS (comma-separated keys; clients send one in the X-API-Key header), "
            "or listen on 127.0.0.1."
        )


def client_of(key: str | None, address: str | None, settings: Settings) -> str:
    """Who is calling: the key's name (its position in ``EMOTION_API_KEYS``, never the key
    itself) or, with no keys configured, the client's address.

    Raises:
        ApiError: 401, keys are configured and ``key`` is missing or unknown.
    """
    if not settings.api_keys:
        return f"address:{address or 'unknown'}"
    if key:
        for i, known in enumerate(settings.api_keys):
            if hmac.compare_digest(key.encode(), known.encode()):
                return f"key:{i + 1}"
    raise ApiError(401, "unauthorized", f"send a valid API key in the {KEY_HEADER} header", {"WWW-Authenticate": KEY_HEADER})


class Limiter:
    """Counts what each client holds (requests in flight, open streams) against a limit. Thread-safe."""

    def __init__(self, limit: int, what: str):
        self.limit, self.what = int(limit), what
        self._lock = threading.Lock()
        self._held: Counter[str] = Counter()

    @contextmanager
    def hold(self, client: str):
        """Hold one of ``client``'s places while the block runs.

        Raises:
            ApiError: 429 with ``Retry-After``, the client already holds ``limit``.
        """
        with self._lock:
            if self._held[client] >= self.limit:
                raise ApiError(
                    429,
                    "too_many_requests",
                    f"at most {self.limit} {self.what} at once per key; wait for one to finish",
                    {"Retry-After": str(RETRY_AFTER_S)},
                )
            self._held[client] += 1
        try:
            yield
        finally:
            with self._lock:
                self._held[client] -= 1
                if self._held[client] <= 0:
                    del self._held[client]

    def total(self) -> int:
        with self._lock:
            return sum(self._held.values())


class BodyLimit:
    """ASGI middleware: a request body over ``max_bytes`` is refused with 413 as soon as it is
    known (its Content-Length, or the bytes received so far), before the body is parsed."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or ()).get(b"content-length")
        too_large = f"the upload is larger than {self.max_bytes:,} bytes (EMOTION_SERVE_MAX_UPLOAD_BYTES)"
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await problem_response(413, "too_large", too_large, scope.get("path"))(scope, receive, send)
        seen = 0

        async def limited():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise ApiError(413, "too_large", too_large)
            return message

        return await self.app(scope, limited, send)
