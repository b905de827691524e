"""The live camera: streamlit-webrtc's ``video_frame_callback`` (:class:`FaceVideoProcessor`),
and what the page reads of it (:class:`LiveFaceSnapshot`). Imports ``av``, never ``streamlit``.

streamlit-webrtc calls a ``video_frame_callback`` in its own worker thread; with
``async_processing=True`` (its default) that worker takes only the newest queued frame, so
processing is latest-frame-wins and the video never builds up lag. The page reads results with
:meth:`FaceVideoProcessor.snapshot`. Every frame is placed by its own RTP-derived timestamp, as
seconds since the stream's first frame (:class:`~emotion.live.clock.PacketClock`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import av
import numpy as np

from ..face.analyzer import FaceEmotionAnalyzer
from ..face.draw import draw_faces
from ..face.track import FaceTracker, TrackedFace
from ..timeline import ProbabilityTrend
from .clock import PacketClock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveFaceSnapshot:
    """What the live face pipeline has produced so far.

    Attributes:
        faces: tracked faces of the latest processed frame (stable IDs, smoothed
            probabilities), largest first.
        followed_id: ID of the face the trend follows (the largest when it first appeared;
            the largest again once it is gone), or None.
        fps: processing rate over the last ~30 frames, frames per second (0 when idle > 2 s).
        frames: frames processed since the start.
        trend_t: float64 [n] media time, seconds since the stream's first frame (from the
            frames' timestamps); trend_p: float32 [n, 7]
            smoothed probabilities of the followed face at those times (last ``window_s``).
        last_frame_age_s: seconds since the latest processed frame (inf before any).
        error: the last processing error as text, or None.
        latest_t_s: media time (seconds since the stream's first frame) of the latest processed
            frame: the video stream's newest moment (None before any).
    """

    faces: tuple[TrackedFace, ...]
    followed_id: int | None
    fps: float
    frames: int
    trend_t: np.ndarray
    trend_p: np.ndarray
    last_frame_age_s: float
    error: str | None
    latest_t_s: float | None = None

    @property
    def followed(self) -> TrackedFace | None:
        """The followed face in the latest frame, or None."""
        return next((f for f in self.faces if f.face_id == self.followed_id), None)


class FaceVideoProcessor:
    """Per-session live face pipeline: analyse a frame, track its faces (stable IDs,
    ~0.5 s smoothing, :class:`~emotion.face.track.FaceTracker`), draw, record results.

    Args:
        analyzer: a shared, already loaded :class:`FaceEmotionAnalyzer`.
        window_s: length of the probability trend, seconds.
        clock: monotonic clock in seconds (injectable for tests).
        on_faces: optional ``on_faces(t, tracked)`` called from the worker thread after each
            frame with its media time (seconds since the stream's first frame) and tracked faces (e.g. to
            record a timeline); it runs under this processor's lock, so it must be quick and
            must not call back into the processor.

    Call it as a streamlit-webrtc ``video_frame_callback``
    (``av.VideoFrame -> av.VideoFrame``); call :meth:`snapshot` from the page.
    """

    FPS_WINDOW = 30
    IDLE_S = 2.0

    def __init__(
        self,
        analyzer: FaceEmotionAnalyzer,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        on_faces: Callable[[float, list[TrackedFace]], None] | None = None,
    ):
        self.analyzer = analyzer
        self.clock = clock
        self.on_faces = on_faces
        self.trend = ProbabilityTrend(window_s)
        self._lock = threading.Lock()
        self.tracker = FaceTracker()
        self._faces: tuple[TrackedFace, ...] = ()
        self._followed: int | None = None
        self._stamps: deque[float] = deque(maxlen=self.FPS_WINDOW)
        self._frames = 0
        self.media_clock = PacketClock(clock)
        self._error: str | None = None
        self._latest_t: float | None = None

    def process(self, image: np.ndarray, t: float | None = None) -> np.ndarray:
        """Analyse a uint8 BGR [H, W, 3] frame shown at media time ``t`` (seconds since the
        stream's first frame; None: when it arrived), record the results, return it annotated."""
        if t is None:
            t = self.media_clock.seconds(None, None)
        faces = self.analyzer.analyze(image)
        now = self.clock()
        with self._lock:
            tracked = self.tracker.update(faces, t)
            ids = [f.face_id for f in tracked]
            if self._followed not in ids:
                self._followed = ids[0] if ids else None  # the largest face
            followed = next((f for f in tracked if f.face_id == self._followed), None)
            self._faces = tuple(tracked)
            self._stamps.append(now)
            self._frames += 1
            self._error = None
            self._latest_t = t if self._latest_t is None else max(self._latest_t, t)
            # under the lock, so a reset() cannot interleave and leave a sample of the old stream
            if followed is not None and followed.readable:  # a face turned away is a gap in the trend
                self.trend.add(t, followed.probabilities)
            if self.on_faces is not None:
                self.on_faces(t, tracked)
        return draw_faces(image, tracked, copy=False)

    def __call__(self, frame: av.VideoFrame) -> av.VideoFrame:
        image = frame.to_ndarray(format="bgr24")
        t = self.media_clock.seconds(frame.pts, frame.time_base)
        try:
            out = self.process(image, t)
        except Exception as exc:  # never kill the stream: show the raw frame, report on the page
            log.exception("face processing failed")
            with self._lock:
                self._error = f"{type(exc).__name__}: {exc}"
            out = image
        new = av.VideoFrame.from_ndarray(out, format="bgr24")
        new.pts = frame.pts
        if frame.time_base is not None:
            new.time_base = frame.time_base
        return new

    @property
    def started_at(self) -> float | None:
        """Clock time (s) at which this stream's first frame arrived, or None before it."""
        return self.media_clock.started_at

    def reset(self) -> None:
        """Forget all results (a new stream starts its trend and rate from zero)."""
        with self._lock:
            self._faces = ()
            self._followed = None
            self.tracker.reset()
            self._stamps.clear()
            self._frames = 0
            self._error = None
            self._latest_t = None
        self.media_clock.reset()
        self.trend.clear()

    def snapshot(self) -> LiveFaceSnapshot:
        now = self.clock()
        with self._lock:
            stamps = list(self._stamps)
            faces, followed, frames, error, latest = self._faces, self._followed, self._frames, self._error, self._latest_t
        age = now - stamps[-1] if stamps else float("inf")
        fps = 0.0
        if len(stamps) >= 2 and age <= self.IDLE_S and stamps[-1] > stamps[0]:
            fps = (len(stamps) - 1) / (stamps[-1] - stamps[0])
        t, p = self.trend.snapshot()
        return LiveFaceSnapshot(faces, followed, fps, frames, t, p, age, error, latest)
