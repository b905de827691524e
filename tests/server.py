"""A real ``streamlit run localapp.py`` on 127.0.0.1, for the browser tests and the dashboard bench."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
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
