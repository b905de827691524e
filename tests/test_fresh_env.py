"""Deployability: a fresh virtual environment built from ``requirements.txt`` alone runs the
app with hub downloads disabled, and every page loads without an error (real Chromium)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from devkit.server import app_tracebacks, start_app, stop_app

ROOT = Path(__file__).resolve().parents[1]
PAGES = {
    "": "FER2013 PrivateTest accuracy",  # home: the models table, every card read
    "/Live_dashboard": "Press START to begin.",
    "/Photo": "Choose a photo to analyse.",
    "/Live_camera": "Press START to begin.",
    "/Voice": "Press START to begin.",
    "/Audio_file": "Choose an audio file to analyse.",
    "/Video_file": "Choose a video to analyse.",
}


def test_requirements_are_light(fresh_python):
    probe = "import importlib.util as u; print(sorted(m for m in ('torch', 'tensorflow', 'transformers', 'pytest', 'skimage') if u.find_spec(m)))"
    out = subprocess.run([str(fresh_python), "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"  # no training or test packages in the app's environment


def test_every_page_loads_in_the_fresh_environment(fresh_python, chromium_path, tmp_path):
    from playwright.sync_api import sync_playwright

    log = tmp_path / "streamlit.log"
    proc, url = start_app(log, timeout_s=180, python=fresh_python)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path, args=["--no-sandbox", "--disable-background-networking"])
            page = browser.new_page()
            for path, marker in PAGES.items():
                page.goto(url + path)
                page.get_by_text(marker).first.wait_for(timeout=180_000)
                assert page.locator('[data-testid="stException"]').count() == 0, path
                text = page.inner_text("body")
                assert "could not be loaded" not in text and "Page not found" not in text, (path, text[:2000])
            browser.close()
    finally:
        stop_app(proc)
    output = log.read_text()
    assert app_tracebacks(output) == [], output[-3000:]
