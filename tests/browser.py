"""Helpers for the real-browser tests (Playwright driving Debian chromium)."""

from __future__ import annotations


def open_and_start(page, url: str, waiting: str = "Press START to begin."):
    """Open ``url``, wait for the page's ``waiting`` text, start its WebRTC streamer; returns
    the streamer's frame locator."""
    page.goto(url)
    page.get_by_text(waiting).wait_for(timeout=90_000)
    webrtc = page.frame_locator("iframe[title*='webrtc']")
    start(webrtc)
    return webrtc


def start(webrtc) -> None:
    """Press the streamer's START until it turns into STOP: a click that lands while the
    component is still loading is lost (seen once on a loaded machine)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(3):
        webrtc.get_by_role("button", name="START").click()
        try:
            webrtc.get_by_role("button", name="STOP").wait_for(timeout=20_000)
            return
        except PlaywrightTimeout:
            continue
    raise AssertionError("the WebRTC streamer did not start after three presses of START")


def metric(page, label: str, timeout_ms: int = 10_000) -> str:
    """The shown value of the ``st.metric`` whose label contains ``label``."""
    box = page.locator('[data-testid="stMetric"]', has_text=label).first
    return box.locator('[data-testid="stMetricValue"]').inner_text(timeout=timeout_ms).strip()
