"""Live dashboard in a real browser: end-of-utterance -> on-page result latency and the face
processing rate, with camera and microphone streaming together.

Starts ``streamlit run localapp.py`` on 127.0.0.1, opens the Live dashboard in Debian
Chromium (Playwright) with a fake camera (a Y4M of the real astronaut photo) and a fake
microphone (real RAVDESS sentences with pauses, looped by Chromium), presses START and reads
the page for ``--seconds``. Each transcript line says when it was first shown, in seconds
after the end of its audio arrived at the server (the end as voice-activity detection marks
it); the bench collects those and the "Processing rate (fps)" metric.

    python bench/bench_dashboard.py [--seconds 90]

Needs ../shared/data (RAVDESS) and the ``chromium`` binary; prints median/p95.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from devkit.data import RAVDESS  # noqa: E402
from devkit.media import chromium_media_args, face_scene, fake_microphone_wav, write_y4m  # noqa: E402
from devkit.server import start_app, stop_app  # noqa: E402

LINE = re.compile(r"\[(\d+\.\d)–(\d+\.\d) s\][^\n]*\n+words: [^\n]*· shown (\d+\.\d) s after it ended")
CLIPS = ("Actor_01/03-01-01-01-01-01-01.flac", "Actor_02/03-01-03-02-02-01-02.flac", "Actor_03/03-01-04-01-01-01-03.flac")


def _media(tmp: Path) -> tuple[Path, Path]:
    from skimage.data import astronaut

    from emotion.speech.audio import load_audio

    y4m = write_y4m(tmp / "face.y4m", [face_scene(astronaut()[:, :, ::-1].copy())] * 10)
    wav = fake_microphone_wav(tmp / "speech.wav", [load_audio(RAVDESS / clip) for clip in CLIPS], pause_s=1.5)
    return y4m.resolve(), wav


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=90.0, help="how long to stream (s)")
    args = parser.parse_args()
    chromium = shutil.which("chromium")
    if not chromium or not RAVDESS.exists():
        raise SystemExit("needs the chromium binary and ../shared/data/ravdess")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        y4m, wav = _media(tmp)
        try:
            proc, url = start_app(tmp / "server.log")
        except RuntimeError as exc:
            raise SystemExit(str(exc)) from None
        latency: dict[tuple[str, str], float] = {}
        fps: list[float] = []
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, args=chromium_media_args(y4m, wav))
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"{url}/Live_dashboard")
                page.get_by_text("Press START to begin.").wait_for(timeout=120_000)
                page.frame_locator("iframe[title*='webrtc']").get_by_role("button", name="START").click()
                rate = page.locator('[data-testid="stMetric"]', has_text="Processing rate").locator(
                    '[data-testid="stMetricValue"]'
                )
                end = time.monotonic() + args.seconds
                while time.monotonic() < end:
                    text = page.inner_text("body")
                    for start_s, end_s, shown in LINE.findall(text):
                        latency.setdefault((start_s, end_s), float(shown))
                    try:
                        value = float(rate.inner_text(timeout=1000))
                        if value > 0:
                            fps.append(value)
                    except (ValueError, Exception):  # the metric is re-rendered now and then
                        pass
                    time.sleep(0.5)
                if not latency:
                    print("no utterance was shown; the page said:\n" + page.inner_text("body")[:3000])
                browser.close()
        finally:
            stop_app(proc)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"Live dashboard, camera + microphone, {args.seconds:.0f} s in Chromium with a fake camera and microphone")
    if latency:
        v = np.array(list(latency.values()))
        print(
            f"end of utterance -> on page: median {np.median(v):.2f} s, p95 {np.percentile(v, 95):.2f} s "
            f"(n={len(v)} utterances; status refresh every 1 s)"
        )
    else:
        print("no utterance was shown")
    if fps:
        print(f"face processing rate while speech is analysed: median {np.median(fps):.1f} fps (n={len(fps)} readings)")


if __name__ == "__main__":
    main()
