"""ui/webrtc.py: the consent-miss limit and the watchdog that stops the streams of sessions whose
browser has gone. The real thing, in a browser, is tests/test_load.py."""

from __future__ import annotations

import aioice.ice
import pytest

from ui.webrtc import CONSENT_MISSES_BEFORE_CLOSE, BrowserGoneWatchdog, keep_streams_alive_under_load


class FakeWorker:
    def __init__(self):
        self.stops = 0

    def stop(self):
        self.stops += 1


class FakeContext:
    """What webrtc_streamer returns, as far as the watchdog uses it."""

    def __init__(self, worker):
        self._worker = worker

    def _get_worker(self):
        return self._worker


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_consent_limit_is_raised_and_never_lowered(monkeypatch):
    assert hasattr(aioice.ice, "CONSENT_FAILURES"), "aioice renamed its consent-miss limit: update ui/webrtc.py"
    monkeypatch.setattr(aioice.ice, "CONSENT_FAILURES", 6)
    keep_streams_alive_under_load()
    assert aioice.ice.CONSENT_FAILURES == CONSENT_MISSES_BEFORE_CLOSE
    keep_streams_alive_under_load()  # idempotent
    assert aioice.ice.CONSENT_FAILURES == CONSENT_MISSES_BEFORE_CLOSE
    higher = CONSENT_MISSES_BEFORE_CLOSE + 50
    monkeypatch.setattr(aioice.ice, "CONSENT_FAILURES", higher)
    keep_streams_alive_under_load()
    assert aioice.ice.CONSENT_FAILURES == higher


@pytest.fixture
def watchdog():
    active: dict[str, bool] = {}
    clock = Clock()
    dog = BrowserGoneWatchdog(grace_s=15.0, is_active=lambda sid: active.get(sid, False), clock=clock)
    dog._thread = object()  # the checks are driven by the test, not by a thread
    return dog, active, clock


def test_a_session_gone_longer_than_the_grace_period_is_stopped_once(watchdog):
    dog, active, clock = watchdog
    gone, stays = FakeWorker(), FakeWorker()
    active.update(a=True, b=True)
    dog.watch("a", FakeContext(gone))
    dog.watch("b", FakeContext(stays))
    assert dog.check() == []
    active["a"] = False
    clock.t = 1.0
    assert dog.check() == []  # gone since 1 s
    clock.t = 15.9
    assert dog.check() == []  # within the grace period
    clock.t = 16.0
    assert dog.check() == ["a"]
    assert (gone.stops, stays.stops) == (1, 0)
    clock.t = 60.0
    assert dog.check() == []  # forgotten once stopped
    assert gone.stops == 1


def test_a_session_that_reconnects_within_the_grace_period_keeps_its_stream(watchdog):
    dog, active, clock = watchdog
    worker = FakeWorker()
    dog.watch("a", FakeContext(worker))
    dog.check()  # gone since 0 s
    clock.t = 10.0
    active["a"] = True
    dog.check()
    active["a"] = False
    clock.t = 20.0
    dog.check()  # gone again since 20 s: the clock restarts
    clock.t = 34.0
    assert dog.check() == []
    clock.t = 35.0
    assert dog.check() == ["a"]
    assert worker.stops == 1


def test_a_session_without_a_running_stream_is_simply_forgotten(watchdog):
    dog, _, clock = watchdog
    dog.watch("a", FakeContext(None))  # streamer drawn, never started (or already stopped)
    dog.check()
    clock.t = 30.0
    assert dog.check() == ["a"]
    assert dog.check() == []


def test_the_private_apis_the_live_pages_rely_on_are_still_there():
    # aioice's consent limit (aiortc/aioice#58), streamlit-webrtc's worker (whitphx/streamlit-webrtc#213)
    # and Streamlit's session registry: an upgrade that removes one must fail here, loudly, not
    # quietly bring back streams cut under load or workers left running by closed tabs
    from ui.webrtc import private_api_problems

    assert private_api_problems() == []


def test_a_missing_private_api_is_reported(monkeypatch):
    from ui.webrtc import private_api_problems

    monkeypatch.delattr(aioice.ice, "CONSENT_FAILURES")
    (problem,) = private_api_problems()
    assert "CONSENT_FAILURES" in problem
    keep_streams_alive_under_load()  # only a warning in the log: the app keeps running


def test_only_streamlits_own_websocket_teardown_is_forgiven_in_a_server_log():
    from pathlib import Path

    from devkit.server import app_tracebacks

    site = "/venv/lib/python3.11/site-packages"
    teardown = (
        "Exception in ASGI application\nTraceback (most recent call last):\n"
        f'  File "{site}/streamlit/web/server/starlette/starlette_websocket.py", line 524, in _websocket_endpoint\n'
        "    await websocket.close()\n"
        f'  File "{site}/starlette/websockets.py", line 104, in send\n'
        "    raise WebSocketDisconnected('Cannot send once a close message has been sent.')\n"
        'starlette.websockets.WebSocketDisconnected: Cannot call "send" once a close message has been sent.\n'
    )
    ours = (
        "Traceback (most recent call last):\n"
        f'  File "{site}/streamlit/runtime/scriptrunner/exec_code.py", line 136, in exec_func\n'
        "    result = func()\n"
        f'  File "{Path(__file__).resolve().parents[1]}/emotion/live/speech.py", line 300, in feed\n'
        "    run = self._current_run()\n"
        "ValueError: boom\n"
    )
    assert app_tracebacks("started\n" + teardown + "  Stopping...\n") == []
    (found,) = app_tracebacks(teardown + ours)
    assert "emotion/live/speech.py" in found and found.endswith("ValueError: boom")
