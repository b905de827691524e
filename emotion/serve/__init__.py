"""Emotion as a service: an HTTP and WebSocket API over the one analysis core (FastAPI on
uvicorn; ``pip install ".[serve]"``). ``emotion serve --host 127.0.0.1 --port 8000``.

Endpoints (``docs/api.md``): ``POST /v1/analyze``, ``GET /v1/jobs/{id}``, ``POST /v1/text``,
``WS /v1/stream``, ``GET /v1/models``, ``GET /healthz``, ``GET /readyz``, ``GET /metrics``,
OpenAPI at ``/docs``, a browser demo at ``/demo``. Modules: :mod:`~emotion.serve.app` (the
endpoints), :mod:`~emotion.serve.schemas` (request and response models, the timeline row from
:mod:`emotion.schema`), :mod:`~emotion.serve.stream` (the live protocol),
:mod:`~emotion.serve.jobs`, :mod:`~emotion.serve.security` (keys, per-key limits),
:mod:`~emotion.serve.problems` (RFC 9457 errors), :mod:`~emotion.serve.metrics` (Prometheus),
:mod:`~emotion.serve.ray_serve` (the same app on Ray Serve).
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    """``emotion serve``: run the service on uvicorn.

    Returns the exit code: 2 when the settings forbid the address (no API keys and a
    non-loopback host) or a setting is invalid.
    """
    ap = argparse.ArgumentParser(prog="emotion serve", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; others need EMOTION_API_KEYS)")
    ap.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    ap.add_argument(
        "--workers",
        type=int,
        default=1,
        help="uvicorn worker processes (each loads the models once; a stream stays on its worker)",
    )
    ap.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    args = ap.parse_args(argv)
    try:
        import uvicorn

        from ..config import Settings
        from .security import check_bind
    except ImportError as exc:
        print(f'error: the service needs its extra: pip install ".[serve]" ({exc})', file=sys.stderr)
        return 2
    try:
        settings = Settings.from_env(server_address=args.host)
        check_bind(args.host, settings)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.workers < 1:
        print("error: --workers must be at least 1", file=sys.stderr)
        return 2
    uvicorn.run(
        "emotion.serve.app:app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        ws_max_size=16 * 2**20,
        timeout_graceful_shutdown=10,
    )
    return 0
