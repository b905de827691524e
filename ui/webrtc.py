"""WebRTC settings shared by the live pages (camera, voice, dashboard).

Three private APIs are used here, each only because no public one exists, each in one function,
and each checked by :func:`private_api_problems` (a test fails loudly when an upgrade removes one;
at run time a missing one only costs its fix, with a warning in the log):

- ``aioice.ice.CONSENT_FAILURES`` (aioice has no setting for its consent-freshness limit; the
  upstream issue is aiortc/aioice#58): :func:`keep_streams_alive_under_load`. It is a module
  global that every ICE connection of the process reads; in the app's server process the only
  ICE connections are the live pages' streams, which is the narrowest scope aioice allows.
- ``WebRtcStreamerContext._get_worker()`` of streamlit-webrtc (no public call stops a stream from
  the server: whitphx/streamlit-webrtc#213; stopping workers when the browser disconnects is the
  open pull request #2513): :func:`_stop_stream`.
- ``streamlit.runtime.Runtime.instance().is_active_session`` (Streamlit documents
  ``st.runtime.exists()`` only; nothing public says whether another session's browser is still
  connected): :func:`_streamlit_session_is_active`.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time

import aioice.ice

log = logging.getLogger(__name__)


def private_api_problems() -> list[str]:
    """What is missing of the private APIs this module relies on (empty when all are there): each
    entry names the attribute and the fix that depends on it."""
    problems = []
    limit = getattr(aioice.ice, "CONSENT_FAILURES", None)
    consent = getattr(getattr(aioice.ice, "Connection", None), "query_consent", None)
    if not isinstance(limit, int) or consent is None or "CONSENT_FAILURES" not in inspect.getsource(consent):
        problems.append("aioice.ice.CONSENT_FAILURES (read by Connection.query_consent): live streams are cut on a loaded server")
    try:
        from streamlit_webrtc.component import WebRtcStreamerContext
        from streamlit_webrtc.webrtc import WebRtcWorker
    except ImportError as exc:
        problems.append(f"streamlit_webrtc WebRtcStreamerContext / WebRtcWorker ({exc})")
    else:
        if not callable(getattr(WebRtcStreamerContext, "_get_worker", None)) or not callable(getattr(WebRtcWorker, "stop", None)):
            problems.append(
                "streamlit_webrtc WebRtcStreamerContext._get_worker / WebRtcWorker.stop: a closed tab's stream runs on"
            )
    from streamlit.runtime import Runtime

    if not all(callable(getattr(Runtime, a, None)) for a in ("exists", "instance", "is_active_session")):
        problems.append("streamlit.runtime.Runtime.exists/instance/is_active_session: a closed tab's stream runs on")
    return problems


CONSENT_MISSES_BEFORE_CLOSE = 120
"""Consecutive unanswered ICE consent checks (one every ~5 s) after which a connection is
closed: about ten minutes. aioice's own limit is 6 (~30 s). A stream whose browser has gone is
ended by :class:`BrowserGoneWatchdog` within seconds instead."""


def keep_streams_alive_under_load() -> None:
    """Let live streams ride out a loaded server instead of being cut after ~30 s.

    aioice (aiortc's ICE agent) checks consent (RFC 7675) every ~5 s with one STUN request
    that counts as missed when its answer takes over 0.5 s, and closes the connection after
    6 misses in a row (aiortc/aioice#58). The answers travel on the same socket as the media
    and queue behind it: with three dashboard sessions on a 2-core server, the answers took
    over 0.5 s (up to 3 s and more) while the media kept flowing, and every stream was closed
    after 30-45 s; allowing two minutes of misses only moved the cut to two minutes. With
    :data:`CONSENT_MISSES_BEFORE_CLOSE` misses allowed, ICE consent no longer ends live streams:
    STOP does, and :class:`BrowserGoneWatchdog` does when the browser's Streamlit connection
    has gone (a closed tab, a lost network).

    Idempotent; never lowers a limit set elsewhere. Private API (see the module's docstring):
    when an aioice upgrade removes the limit, this logs a warning and does nothing.
    """
    limit = getattr(aioice.ice, "CONSENT_FAILURES", None)
    if not isinstance(limit, int):
        log.warning("aioice.ice.CONSENT_FAILURES is gone (aiortc/aioice#58): live streams may be cut on a loaded server")
        return
    aioice.ice.CONSENT_FAILURES = max(limit, CONSENT_MISSES_BEFORE_CLOSE)


class BrowserGoneWatchdog:
    """Stops the WebRTC streams of Streamlit sessions whose browser has gone.

    A tab closed or a laptop lid shut mid-stream does not always close the WebRTC connection
    (Chromium closing a tab sent nothing the server saw), and Streamlit keeps a disconnected
    session for ``server.disconnectedSessionTTL`` (120 s) so that it can reconnect; the stream's
    workers (decoders, frame processors, the speech threads) would run on for minutes. One
    daemon thread polls every ``poll_s`` seconds whether each watched session still has its
    websocket; after ``grace_s`` seconds without it, the session's stream is stopped as STOP
    would (its last utterance is still analysed, then its threads end).

    Args:
        grace_s: seconds a session may stay disconnected (a page reload, a network blip).
        poll_s: seconds between checks.
        is_active: ``session_id -> bool``; defaults to Streamlit's runtime (injectable for tests).
        clock: monotonic clock in seconds (injectable for tests).
    """

    def __init__(self, grace_s: float = 15.0, poll_s: float = 2.0, is_active=None, clock=time.monotonic):
        self.grace_s = float(grace_s)
        self.poll_s = float(poll_s)
        self._is_active = is_active or _streamlit_session_is_active
        self._clock = clock
        self._lock = threading.Lock()
        self._watched: dict[str, tuple[object, float | None]] = {}  # session id -> (streamer context, gone since)
        self._thread: threading.Thread | None = None

    def watch(self, session_id: str, ctx) -> None:
        """Watch ``ctx`` (what ``webrtc_streamer`` returned) of the session ``session_id``."""
        with self._lock:
            self._watched[session_id] = (ctx, None)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="webrtc-browser-gone", daemon=True)
                self._thread.start()

    def check(self) -> list[str]:
        """One round of checks; returns the ids of the sessions given up (their streams, if running,
        stopped; they are no longer watched)."""
        now = self._clock()
        stopped = []
        with self._lock:
            items = list(self._watched.items())
        for session_id, (ctx, gone_since) in items:
            if self._is_active(session_id):
                update = (ctx, None)
            elif gone_since is None:
                update = (ctx, now)
            elif now - gone_since >= self.grace_s:
                update = None
                _stop_stream(ctx)
                stopped.append(session_id)
            else:
                continue
            with self._lock:
                if self._watched.get(session_id, (None,))[0] is ctx:  # not re-watched meanwhile
                    if update is None:
                        del self._watched[session_id]
                    else:
                        self._watched[session_id] = update
        return stopped

    def _run(self) -> None:
        while True:
            time.sleep(self.poll_s)
            try:
                self.check()
            except Exception:  # never let the watchdog die
                log.exception("browser-gone watchdog failed")


def _streamlit_session_is_active(session_id: str) -> bool:
    """Whether Streamlit still has a browser connected to ``session_id``. Private API: Streamlit's
    ``Runtime.is_active_session`` (see the module's docstring)."""
    from streamlit.runtime import Runtime

    return Runtime.exists() and Runtime.instance().is_active_session(session_id)


def _stop_stream(ctx) -> None:
    """Stop a streamer's WebRTC worker as its STOP button does. streamlit-webrtc has no public
    call for this (whitphx/streamlit-webrtc#213); its context's private ``_get_worker()`` is used,
    and a version without it only logs."""
    get_worker = getattr(ctx, "_get_worker", None)
    worker = get_worker() if get_worker is not None else None
    if worker is None:
        if get_worker is None:
            log.warning("cannot stop a stream: this streamlit-webrtc has no WebRtcStreamerContext._get_worker")
        return
    log.info("browser gone: stopping its WebRTC stream")
    worker.stop()


_WATCHDOG = BrowserGoneWatchdog()


def stop_stream_when_browser_leaves(ctx) -> None:
    """Stop this session's stream ``ctx`` when its browser has been gone for 15 s (see
    :class:`BrowserGoneWatchdog`). Call from a page script after ``webrtc_streamer``."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    run_ctx = get_script_run_ctx()
    if run_ctx is not None:
        _WATCHDOG.watch(run_ctx.session_id, ctx)


def live_streamer(**kwargs):
    """``streamlit_webrtc.webrtc_streamer(**kwargs)`` for the live pages: with
    :func:`keep_streams_alive_under_load` applied first and the stream watched by
    :func:`stop_stream_when_browser_leaves`. Returns the streamer's context."""
    from streamlit_webrtc import webrtc_streamer

    keep_streams_alive_under_load()
    ctx = webrtc_streamer(**kwargs)
    stop_stream_when_browser_leaves(ctx)  # a closed tab does not always end the stream
    return ctx
