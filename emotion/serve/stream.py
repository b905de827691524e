"""``WS /v1/stream``: one live session over a WebSocket, the same live core as the Live dashboard
(:class:`emotion.live.LiveSession`). The protocol (JSON text messages) is in ``docs/api.md``.

Time: every client message carries ``t``, seconds on the client's clock. Each stream (video,
audio) is placed by those timestamps, relative to its first message, and the session's 0 s is
the earliest of the two first messages; every time the server sends back is on the client's
clock again (session time + that origin). Nothing depends on when a message arrives.

Video is latest-frame-wins: the receiving loop keeps only the newest undecoded frame and one
worker thread decodes and analyses it (a frame that arrives while the previous one is being
analysed replaces any waiting one). Audio is never dropped: every message is decoded and
handed to the speech pipeline at once; its backlog is capped as the dashboard's is
(:data:`emotion.live.MAX_BACKLOG_S`) and the client is told when speech is skipped.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import threading
import time
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketDisconnect

from .. import __version__
from ..display import FACE_STATUS_TEXT
from ..errors import InputError
from ..images import decode_image
from ..labels import EMOTIONS
from ..live import LiveSession
from ..schema import TIMELINE, FaceStatus
from ..timeline import fused_row, utterance_row
from .schemas import fusion_weights

log = logging.getLogger(__name__)

PROTOCOL = 1
"""Version of the message protocol (``ready.protocol``)."""
VIDEO_FORMATS = ("jpeg", "png")
AUDIO_FORMATS = ("pcm_s16le", "opus")
TIME_BASE = Fraction(1, 1_000_000)
"""Client timestamps (seconds) become frame pts in microseconds."""
PUSH_INTERVAL_S = 0.1
"""How often the server looks for new utterances and a new current estimate."""
END_WAIT_S = 60.0
"""After ``stop``, how long the server waits for the last utterance's analysis."""
MAX_FRAME_BYTES = 8_000_000
"""Largest encoded video frame (bytes)."""


class ProtocolError(Exception):
    """A message the server cannot take (the client is told, the stream goes on)."""


class ClientClock:
    """The session's clock: the client's time (s) of the message being handled, or of the latest
    one (:class:`~emotion.live.LiveSession` places every frame by it)."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class _Frame:
    data: bytes
    fmt: str
    t: float  # client seconds
    rel: float  # seconds since the video stream's first frame


def _b64(message: dict) -> bytes:
    data = message.get("data")
    if not isinstance(data, str) or not data:
        raise ProtocolError("'data' must be the payload in base64")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError("'data' is not valid base64") from None


def _time(message: dict) -> float:
    t = message.get("t")
    if not isinstance(t, (int, float)) or isinstance(t, bool) or not np.isfinite(t) or t < 0:
        raise ProtocolError("'t' must be the media time in seconds on the client's clock (a number >= 0)")
    return float(t)


def face_message(t: float, faces) -> dict:
    """``{"type": "faces"}``: the tracked faces of one analysed frame at client time ``t``."""
    out = []
    for f in faces:
        status = FaceStatus(f.status)
        read = status is FaceStatus.READ
        out.append(
            {
                "face_id": f.face_id,
                "box": [int(v) for v in f.box],
                "face_status": status.value,
                "label": f.label if read else None,
                "score": round(float(f.score), 4) if read else None,
                "probabilities": {e: round(float(p), 4) for e, p in zip(EMOTIONS, f.probabilities, strict=True)}
                if read
                else None,
            }
        )
    return {"type": "faces", "t": round(t, 3), "faces": out}


class StreamSession:
    """One ``/v1/stream`` connection: decodes the client's messages into the live core and
    queues what to send back (``outbox``, read by the connection's sender task)."""

    def __init__(self, faces, speech, loop: asyncio.AbstractEventLoop, metrics=None, max_frame_pixels: int = 8_847_360):
        self.clock = ClientClock()
        self.session = LiveSession(faces, speech, clock=self.clock)
        self.loop, self.metrics, self.max_frame_pixels = loop, metrics, max_frame_pixels
        self.outbox: asyncio.Queue[dict] = asyncio.Queue()
        self.weights: dict[str, float] = {}
        self.audio_format, self.sample_rate, self.channels = "pcm_s16le", 16_000, 1
        self._opus = None
        self._frame: _Frame | None = None
        self._frame_ready = threading.Condition()
        self._closed = False
        self._worker = threading.Thread(target=self._video_worker, name="emotion-stream-video", daemon=True)
        self._worker.start()
        self._sent: set[tuple] = set()
        self._skipped_told = 0.0
        self._now_sent: tuple | None = None
        self.frames_in = self.frames_done = 0

    # -- to the client -----------------------------------------------------------------

    def send(self, message: dict) -> None:
        """Queue ``message`` for the client (from any thread)."""
        if self.metrics is not None:
            self.metrics.stream_messages.labels("out", message.get("type", "?")).inc()
        self.loop.call_soon_threadsafe(self.outbox.put_nowait, message)

    def origin(self, speech_started_at: float | None) -> float | None:
        """The session's 0 s on the client's clock (None before any frame), given when the speech
        stream started (a snapshot's ``speech.started_at``)."""
        starts = [s for s in (self.session.video.started_at, speech_started_at) if s is not None]
        return min(starts) if starts else None

    # -- from the client ---------------------------------------------------------------

    def handle(self, message: dict) -> None:
        """One client message (``start``, ``video``, ``audio``).

        Raises:
            ProtocolError: the message cannot be taken; the stream goes on.
        """
        kind = message.get("type")
        if self.metrics is not None:
            self.metrics.stream_messages.labels("in", str(kind)[:16]).inc()
        if kind == "start":
            self._start(message)
        elif kind == "video":
            self._video(message)
        elif kind == "audio":
            self._audio(message)
        else:
            raise ProtocolError(f"unknown message type {kind!r}: start, video, audio or stop")

    def _start(self, message: dict) -> None:
        audio = message.get("audio") or {}
        fmt = audio.get("format", "pcm_s16le")
        rate, channels = audio.get("sample_rate", 16_000 if fmt == "pcm_s16le" else 48_000), audio.get("channels", 1)
        if fmt not in AUDIO_FORMATS:
            raise ProtocolError(f"audio.format must be one of {', '.join(AUDIO_FORMATS)}, got {fmt!r}")
        if not isinstance(rate, int) or not 8_000 <= rate <= 192_000 or channels not in (1, 2):
            raise ProtocolError("audio.sample_rate must be an integer in 8000-192000 Hz and audio.channels 1 or 2")
        try:
            weights = fusion_weights(message.get("weights") or {})
        except ValueError as exc:
            raise ProtocolError(str(exc)) from None
        self.audio_format, self.sample_rate, self.channels, self.weights = fmt, rate, channels, weights
        if fmt == "opus":
            self._opus = av.CodecContext.create("libopus" if "libopus" in av.codecs_available else "opus", "r")
            self._opus.sample_rate, self._opus.layout = rate, "mono" if channels == 1 else "stereo"

    def _video(self, message: dict) -> None:
        t = _time(message)
        fmt = message.get("format", "jpeg")
        if fmt not in VIDEO_FORMATS:
            raise ProtocolError(f"video.format must be one of {', '.join(VIDEO_FORMATS)}, got {fmt!r}")
        data = _b64(message)
        if len(data) > MAX_FRAME_BYTES:
            raise ProtocolError(f"a video frame may have at most {MAX_FRAME_BYTES:,} bytes")
        self.clock.now = t
        rel = self.session.video.media_clock.seconds(round(t / TIME_BASE), TIME_BASE)
        self.frames_in += 1
        with self._frame_ready:
            self._frame = _Frame(data, fmt, t, rel)  # latest frame wins: a waiting one is replaced
            self._frame_ready.notify()

    def _audio(self, message: dict) -> None:
        t = _time(message)
        data = _b64(message)
        self.clock.now = t
        if self.audio_format == "pcm_s16le":
            if len(data) % (2 * self.channels):
                raise ProtocolError(f"pcm_s16le audio must be whole samples of {self.channels} channel(s) (2 bytes each)")
            samples = np.frombuffer(data, dtype="<i2").reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono" if self.channels == 1 else "stereo")
            frame.sample_rate = self.sample_rate
            frame.pts, frame.time_base = round(t * self.sample_rate), Fraction(1, self.sample_rate)
            frames = [frame]
        else:
            if self._opus is None:
                raise ProtocolError("send a start message with audio.format 'opus' first")
            packet = av.Packet(data)
            packet.pts, packet.time_base = round(t * self.sample_rate), Fraction(1, self.sample_rate)
            try:
                frames = self._opus.decode(packet)
            except (av.error.FFmpegError, ValueError) as exc:
                raise ProtocolError(f"an Opus packet could not be decoded ({exc})") from None
            for f in frames:
                f.pts, f.time_base = packet.pts, packet.time_base
        self.session.speech.feed(frames)

    # -- the video worker ---------------------------------------------------------------

    def _video_worker(self) -> None:
        while True:
            with self._frame_ready:
                while self._frame is None and not self._closed:
                    self._frame_ready.wait(0.5)
                if self._closed:
                    return
                frame, self._frame = self._frame, None
            t0 = time.perf_counter()
            try:
                image = decode_image(frame.data, max_pixels=self.max_frame_pixels)
                self.session.video.process(image, frame.rel)
            except InputError as exc:
                self.send(
                    {"type": "notice", "code": "bad_frame", "t": frame.t, "detail": f"video frame at {frame.t:.3f} s: {exc}"}
                )
                continue
            except Exception as exc:  # noqa: BLE001 - the stream goes on; the client is told
                log.exception("a stream's video frame failed")
                self.send({"type": "notice", "code": "frame_failed", "t": frame.t, "detail": f"{type(exc).__name__}: {exc}"})
                continue
            if self.metrics is not None:
                self.metrics.inference.labels("live_face").observe(time.perf_counter() - t0)
            self.frames_done += 1
            self.send(face_message(frame.t, self.session.video.snapshot().faces))

    # -- results -----------------------------------------------------------------------

    def push(self, ended: bool = False) -> bool:
        """Send what is new since the last call: each new utterance and its fused estimate, the
        current fused estimate when it changed, a notice when speech was skipped. Returns whether
        the speech pipeline still has work (after ``stop``)."""
        snap = self.session.snapshot(self.weights, ended=ended)
        origin = self.origin(snap.speech.started_at)
        if origin is None:
            return False
        for u, fused in zip(snap.utterances, snap.fused_utterances, strict=True):
            key = (snap.speech.started_at, round(u.start_s, 3))
            if key in self._sent:
                continue
            self._sent.add(key)
            on_client = (u.start_s + origin, u.end_s + origin)
            row = utterance_row(u, "stream")
            row["start_s"], row["end_s"] = round(on_client[0], 3), round(on_client[1], 3)
            self.send({"type": "utterance", "row": _json_row(row)})
            if fused is not None:
                self.send({"type": "fused", "row": _json_row(fused_row(fused, *on_client, "stream"))})
        now = snap.fused_now
        state = None if now is None else (now.label, round(now.score, 2), now.face_id)
        if state != self._now_sent:
            self._now_sent = state
            self.send(
                {
                    "type": "now",
                    "t": round((snap.media_end_s if snap.media_end_s is not None else snap.now_s) + origin, 3),
                    "label": None if now is None else now.label,
                    "score": None if now is None else round(float(now.score), 4),
                    "face_id": None if now is None else now.face_id,
                    "shares": {} if now is None else {k: round(v, 3) for k, v in now.shares().items()},
                }
            )
        if snap.speech.skipped_s > self._skipped_told:
            self._skipped_told = snap.speech.skipped_s
            self.send(
                {
                    "type": "notice",
                    "code": "speech_skipped",
                    "detail": f"{snap.speech.skipped_s:.0f} s of speech were skipped: the analysis fell behind the audio",
                }
            )
        return snap.speech.running or snap.speech.queued > 0

    def close(self) -> None:
        with self._frame_ready:
            self._closed = True
            self._frame_ready.notify_all()
        self.session.speech.on_ended()


def _json_row(row: dict) -> dict:
    """A timeline row as the schema casts it (statuses as their values), without empty cells."""
    return {k: v for k, v in TIMELINE.check(row).items() if v is not None}


async def serve_connection(ws, service) -> None:
    """Serve one accepted ``/v1/stream`` WebSocket ``ws`` (a Starlette ``WebSocket``) with the
    models, limits and metrics of ``service`` (:class:`emotion.serve.app.Service`) until the
    client stops (``stop``: the last utterance is finished and sent, then ``end``) or leaves."""
    loop = asyncio.get_running_loop()
    settings = service.settings
    session = StreamSession(service.analyzers.faces, service.analyzers.speech, loop, service.metrics, settings.max_frame_pixels)
    service.metrics.streams_open.inc()
    words = {s.value: text for s, text in FACE_STATUS_TEXT.items() if text}  # the demo page's captions (emotion.display)
    await ws.send_json(
        {"type": "ready", "protocol": PROTOCOL, "labels": list(EMOTIONS), "version": __version__, "face_status_text": words}
    )

    async def sender():
        while True:
            message = await session.outbox.get()
            if message is None:
                return
            await ws.send_json(message)

    async def pusher():
        while True:
            await asyncio.sleep(PUSH_INTERVAL_S)
            try:
                await run_in_threadpool(session.push)
            except Exception as exc:  # noqa: BLE001 - a bug: say so, keep the stream
                log.exception("a stream's results could not be pushed")
                session.send({"type": "notice", "code": "push_failed", "detail": f"{type(exc).__name__}: results are delayed"})
                await asyncio.sleep(1.0)

    send_task, push_task = asyncio.create_task(sender()), asyncio.create_task(pusher())
    stopped = False
    try:
        while True:
            raw = await ws.receive_text()
            try:
                message = json.loads(raw)
                if not isinstance(message, dict):
                    raise ProtocolError("each message must be a JSON object with a 'type'")
                if message.get("type") == "stop":
                    stopped = True
                    break
                session.handle(message)
            except (ProtocolError, ValueError) as exc:
                session.send({"type": "notice", "code": "bad_message", "detail": str(exc)})
    except WebSocketDisconnect:  # the client left
        pass
    finally:
        push_task.cancel()
        session.close()
        service.metrics.streams_open.dec()
    if stopped:  # finish the last utterance, send everything, then say so
        deadline = time.monotonic() + END_WAIT_S
        while await run_in_threadpool(session.push, True) and time.monotonic() < deadline:
            await asyncio.sleep(PUSH_INTERVAL_S)
        await run_in_threadpool(session.push, True)
        session.send({"type": "end", "frames_received": session.frames_in, "frames_analysed": session.frames_done})
    session.loop.call_soon_threadsafe(session.outbox.put_nowait, None)
    try:
        await send_task
        if stopped:
            await ws.close()
    except (WebSocketDisconnect, RuntimeError):
        pass
