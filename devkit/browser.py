"""Helpers for the real-browser tests (Playwright driving Debian chromium)."""

from __future__ import annotations

import time


def open_and_start(page, url: str, waiting: str = "Press START to begin.", expect_video: bool = True):
    """Open ``url``, wait for the page's ``waiting`` text, start its WebRTC streamer (see
    :func:`start`); returns the streamer's frame locator."""
    page.goto(url)
    page.get_by_text(waiting).wait_for(timeout=90_000)
    webrtc = page.frame_locator("iframe[title*='webrtc']")
    start(webrtc, expect_video=expect_video)
    return webrtc


START_PRESSES: list[int] = []
"""Presses of START each stream of this test session needed (the last one failed when it equals
``attempts`` and the stream never ran); the terminal summary reports them."""


def start(webrtc, expect_video: bool = True, attempts: int = 3) -> None:
    """Press the streamer's START until the stream runs: its button turns into STOP and, with
    ``expect_video``, the video sent back plays (a non-zero width) within 45 s.

    A press is repeated, as a person would, when it is lost (a click that lands while the
    component is still loading: seen once on a loaded machine) or when the component falls back
    to START without ever streaming (seen on a fresh server while Streamlit's file watcher was
    flooded; the app now runs without one), or streams no video for 45 s (then STOP is pressed
    first: seen once in a local CI run with a training job beside it). Each repeat is printed, and every stream's count of
    presses is kept in :data:`START_PRESSES` for the test session's summary: a first press that
    fails more than rarely is a bug to fix, not to retry around.

    Raises:
        AssertionError: no stream after ``attempts`` presses.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(1, attempts + 1):
        webrtc.get_by_role("button", name="START").click()
        try:
            webrtc.get_by_role("button", name="STOP").wait_for(timeout=20_000)
        except PlaywrightTimeout:
            print(f"START press {attempt}: the button did not turn into STOP; pressing again")
            continue
        if not expect_video or _video_plays(webrtc, timeout_s=45.0):
            START_PRESSES.append(attempt)
            return
        stop = webrtc.get_by_role("button", name="STOP")
        if stop.count():  # no video after 45 s and still streaming: stop it, as a person would, first
            print(f"START press {attempt}: no video after 45 s; pressing STOP, then START again")
            stop.click()
            webrtc.get_by_role("button", name="START").wait_for(timeout=30_000)
        else:
            print(f"START press {attempt}: the stream fell back to START without video; pressing again")
    START_PRESSES.append(attempts)
    raise AssertionError(f"the WebRTC streamer did not stream after {attempts} presses of START")


def _video_plays(webrtc, timeout_s: float) -> bool:
    """True once the streamer's first video has a non-zero width; False when its START button
    is back (the stream ended) or after ``timeout_s`` seconds."""
    deadline = time.monotonic() + timeout_s
    video = webrtc.locator("video").first
    while time.monotonic() < deadline:
        if webrtc.locator("video").count() and video.evaluate("v => v.videoWidth") > 0:
            return True
        if webrtc.get_by_role("button", name="START").count():
            return False
        time.sleep(0.25)
    return False


def metric(page, label: str, timeout_ms: int = 10_000) -> str:
    """The shown value of the ``st.metric`` whose label contains ``label``."""
    box = page.locator('[data-testid="stMetric"]', has_text=label).first
    return box.locator('[data-testid="stMetricValue"]').inner_text(timeout=timeout_ms).strip()
