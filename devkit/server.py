"""Real servers on 127.0.0.1: ``streamlit run localapp.py`` for the browser tests and the dashboard bench,
and a uvicorn server of the HTTP service (:class:`Served`) for its tests and bench."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def start_app(log_path: Path, timeout_s: float = 60.0, python: str | Path = sys.executable) -> tuple[subprocess.Popen, str]:
    """Start the app headless on a free port (hub downloads off) with the interpreter
    ``python``, its output in ``log_path``; returns (process, base URL) once
    ``/_stcore/health`` answers 200.

    Raises:
        RuntimeError: the server exited or did not answer within ``timeout_s`` seconds (the
            message holds its log); it is killed.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [str(python), "-m", "streamlit", "run", "localapp.py", "--server.port", str(port)]
    command += ["--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1"),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("streamlit did not start:\n" + Path(log_path).read_text())
        time.sleep(0.5)


def stop_app(proc: subprocess.Popen) -> None:
    """Terminate the server; kill it after 10 s."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


_TEARDOWN_FRAMES = ("/streamlit/web/server/", "/starlette/", "/uvicorn/", "/anyio/")


def app_tracebacks(log: str) -> list[str]:
    """The tracebacks in a server log, but for one known to come from Streamlit itself: its
    Starlette websocket endpoint (Streamlit >= 1.6x) may close a websocket the browser has
    already closed, and logs ``starlette.websockets.WebSocketDisconnected`` with only Streamlit,
    Starlette and uvicorn frames in it. Any traceback with a frame of this app (or of anything
    else), or another exception, is returned."""
    lines = log.splitlines()
    out, i = [], 0
    while i < len(lines):
        if not lines[i].startswith("Traceback (most recent call last):"):
            i += 1
            continue
        j = i + 1
        while j < len(lines) and (lines[j].startswith(" ") or not lines[j].strip()):
            j += 1
        block = lines[i : j + 1]
        frames = [ln for ln in block if ln.startswith('  File "')]
        teardown = (
            frames
            and all(any(part in ln for part in _TEARDOWN_FRAMES) for ln in frames)
            and j < len(lines)
            and lines[j].startswith("starlette.websockets.WebSocketDisconnect")
        )
        if not teardown:
            out.append("\n".join(block))
        i = j + 1
    return out


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """A uvicorn server on 127.0.0.1 in a thread, serving the ASGI ``app`` (``with Served(app) as s:``,
    then ``s.url``); stopped on leaving the block."""

    def __init__(self, app):
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", ws_max_size=16 * 2**20)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 120
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            assert self.thread.is_alive(), "the server stopped"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(30)
