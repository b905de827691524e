"""WebRTC callback objects: the thread-safe hand-off between streamlit-webrtc's
worker threads and the page. Imports ``av``, never ``streamlit``.

streamlit-webrtc calls a ``video_frame_callback`` in its own worker thread; with
``async_processing=True`` (its default) that worker takes only the newest queued
frame, so processing is latest-frame-wins and the video never builds up lag. The
page reads results with :meth:`FaceVideoProcessor.snapshot`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

import av
import numpy as np

from .face.analyzer import FaceEmotion, FaceEmotionAnalyzer
from .face.draw import draw_faces
from .timeline import ProbabilityTrend

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveFaceSnapshot:
    """What the live face pipeline has produced so far.

    Attributes:
        faces: faces of the latest processed frame, largest first.
        fps: processing rate over the last ~30 frames, frames per second (0 when idle > 2 s).
        frames: frames processed since the start.
        trend_t: float64 [n] seconds since the first frame; trend_p: float32 [n, 7]
            probabilities of the largest face at those times (last ``window_s``).
        last_frame_age_s: seconds since the latest processed frame (inf before any).
        error: the last processing error as text, or None.
    """

    faces: tuple[FaceEmotion, ...]
    fps: float
    frames: int
    trend_t: np.ndarray
    trend_p: np.ndarray
    last_frame_age_s: float
    error: str | None


class FaceVideoProcessor:
    """Per-session live face pipeline: analyse a frame, draw on it, record results.

    Args:
        analyzer: a shared, already loaded :class:`FaceEmotionAnalyzer`.
        window_s: length of the probability trend, seconds.
        clock: monotonic clock in seconds (injectable for tests).

    Call it as a streamlit-webrtc ``video_frame_callback``
    (``av.VideoFrame -> av.VideoFrame``); call :meth:`snapshot` from the page.
    """

    FPS_WINDOW = 30
    IDLE_S = 2.0

    def __init__(self, analyzer: FaceEmotionAnalyzer, window_s: float = 60.0, clock=time.monotonic):
        self.analyzer = analyzer
        self.clock = clock
        self.trend = ProbabilityTrend(window_s)
        self._lock = threading.Lock()
        self._faces: tuple[FaceEmotion, ...] = ()
        self._stamps: deque[float] = deque(maxlen=self.FPS_WINDOW)
        self._frames = 0
        self._t0: float | None = None
        self._error: str | None = None

    def process(self, image: np.ndarray) -> np.ndarray:
        """Analyse a uint8 BGR [H, W, 3] frame, record the results, return it annotated."""
        faces = self.analyzer.analyze(image)
        now = self.clock()
        with self._lock:
            if self._t0 is None:
                self._t0 = now
            self._faces = tuple(faces)
            self._stamps.append(now)
            self._frames += 1
            self._error = None
            t = now - self._t0
        if faces:
            self.trend.add(t, faces[0].probabilities)
        return draw_faces(image, faces, copy=False)

    def __call__(self, frame: av.VideoFrame) -> av.VideoFrame:
        image = frame.to_ndarray(format="bgr24")
        try:
            out = self.process(image)
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

    def reset(self) -> None:
        """Forget all results (a new stream starts its trend and rate from zero)."""
        with self._lock:
            self._faces = ()
            self._stamps.clear()
            self._frames = 0
            self._t0 = None
            self._error = None
        self.trend.clear()

    def snapshot(self) -> LiveFaceSnapshot:
        now = self.clock()
        with self._lock:
            stamps = list(self._stamps)
            faces, frames, error = self._faces, self._frames, self._error
        age = now - stamps[-1] if stamps else float("inf")
        fps = 0.0
        if len(stamps) >= 2 and age <= self.IDLE_S and stamps[-1] > stamps[0]:
            fps = (len(stamps) - 1) / (stamps[-1] - stamps[0])
        t, p = self.trend.snapshot()
        return LiveFaceSnapshot(faces, fps, frames, t, p, age, error)
