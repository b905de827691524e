"""WebRTC callback objects: the thread-safe hand-off between streamlit-webrtc's
worker threads and the page. Imports ``av``, never ``streamlit``.

Video: streamlit-webrtc calls a ``video_frame_callback`` in its own worker thread; with
``async_processing=True`` (its default) that worker takes only the newest queued frame,
so processing is latest-frame-wins and the video never builds up lag. The page reads
results with :meth:`FaceVideoProcessor.snapshot`.

Audio: a ``queued_audio_frames_callback`` receives *every* queued frame, so no audio is
dropped. :class:`SpeechStreamProcessor` only resamples them into an inbox; one thread
cuts utterances with VAD into a bounded queue, another transcribes and classifies them.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import av
import numpy as np

from .face.analyzer import FaceEmotionAnalyzer
from .face.draw import draw_faces
from .face.track import FaceTracker, TrackedFace
from .speech.analyzer import SpeechEmotionAnalyzer, Utterance
from .speech.audio import SAMPLE_RATE
from .speech.vad import UtteranceSegmenter
from .timeline import ProbabilityTrend

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
        trend_t: float64 [n] seconds since the first frame; trend_p: float32 [n, 7]
            smoothed probabilities of the followed face at those times (last ``window_s``).
        last_frame_age_s: seconds since the latest processed frame (inf before any).
        error: the last processing error as text, or None.
    """

    faces: tuple[TrackedFace, ...]
    followed_id: int | None
    fps: float
    frames: int
    trend_t: np.ndarray
    trend_p: np.ndarray
    last_frame_age_s: float
    error: str | None

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
            frame with its time (seconds since the first frame) and tracked faces (e.g. to
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
        clock=time.monotonic,
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
        self._t0: float | None = None
        self._error: str | None = None

    def process(self, image: np.ndarray) -> np.ndarray:
        """Analyse a uint8 BGR [H, W, 3] frame, record the results, return it annotated."""
        faces = self.analyzer.analyze(image)
        now = self.clock()
        with self._lock:
            if self._t0 is None:
                self._t0 = now
            t = now - self._t0
            tracked = self.tracker.update(faces, t)
            ids = [f.face_id for f in tracked]
            if self._followed not in ids:
                self._followed = ids[0] if ids else None  # the largest face
            followed = next((f for f in tracked if f.face_id == self._followed), None)
            self._faces = tuple(tracked)
            self._stamps.append(now)
            self._frames += 1
            self._error = None
            # under the lock, so a reset() cannot interleave and leave a sample of the old stream
            if followed is not None:
                self.trend.add(t, followed.probabilities)
            if self.on_faces is not None:
                self.on_faces(t, tracked)
        return draw_faces(image, tracked, copy=False)

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

    @property
    def started_at(self) -> float | None:
        """Clock time (s) of the first processed frame of this stream, or None before it."""
        with self._lock:
            return self._t0

    def reset(self) -> None:
        """Forget all results (a new stream starts its trend and rate from zero)."""
        with self._lock:
            self._faces = ()
            self._followed = None
            self.tracker.reset()
            self._stamps.clear()
            self._frames = 0
            self._t0 = None
            self._error = None
        self.trend.clear()

    def snapshot(self) -> LiveFaceSnapshot:
        now = self.clock()
        with self._lock:
            stamps = list(self._stamps)
            faces, followed, frames, error = self._faces, self._followed, self._frames, self._error
        age = now - stamps[-1] if stamps else float("inf")
        fps = 0.0
        if len(stamps) >= 2 and age <= self.IDLE_S and stamps[-1] > stamps[0]:
            fps = (len(stamps) - 1) / (stamps[-1] - stamps[0])
        t, p = self.trend.snapshot()
        return LiveFaceSnapshot(faces, followed, fps, frames, t, p, age, error)


@dataclass(frozen=True)
class SpeechSnapshot:
    """What the live speech pipeline has produced so far.

    Attributes:
        utterances: every analysed utterance of this stream, oldest first.
        received_s: seconds of audio received since the stream started.
        backlog_s: seconds of received audio not yet through VAD.
        queued: utterances waiting for transcription and classification.
        running: whether the worker threads are alive.
        error: the last processing error as text, or None.
        started_at: clock time (s) at which this stream's first audio arrived, or None.
        end_arrived_at: per utterance, the clock time (s) at which the end of its audio
            arrived (None when no longer known); with ``ready_at``, the clock time its
            analysis finished, this gives the end-of-utterance -> result latency.
    """

    utterances: tuple[Utterance, ...]
    received_s: float
    backlog_s: float
    queued: int
    running: bool
    error: str | None
    started_at: float | None = None
    end_arrived_at: tuple[float | None, ...] = ()
    ready_at: tuple[float, ...] = ()


class _SpeechRun:
    """The queues, resampler and threads of one stream (one START..STOP)."""

    ARRIVALS = 8192  # (samples received, clock) marks kept: minutes of callbacks

    def __init__(self, max_queued: int, started_at: float):
        self.inbox: queue.Queue = queue.Queue()  # unbounded: audio is never dropped
        self.segments: queue.Queue = queue.Queue(maxsize=max_queued)
        self.stop = threading.Event()
        self.ended = False
        self.resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        self.started_at = started_at
        self.received = 0
        self.segmented = 0
        self.arrivals: deque[tuple[int, float]] = deque(maxlen=self.ARRIVALS)
        self.forgotten = 0  # samples received up to the oldest mark dropped from ``arrivals``
        self.threads: list[threading.Thread] = []

    def mark_arrival(self, at: float) -> None:
        """Note that ``received`` samples had arrived at clock time ``at`` (call under the lock)."""
        if len(self.arrivals) == self.arrivals.maxlen:
            self.forgotten = self.arrivals[0][0]
        self.arrivals.append((self.received, at))

    def arrival_of(self, sample: int) -> float | None:
        """Clock time at which audio sample number ``sample`` had arrived, or None when that is no
        longer known (call under the lock)."""
        if sample <= self.forgotten:
            return None
        for received, at in self.arrivals:
            if received >= sample:
                return at
        return None


class SpeechStreamProcessor:
    """Per-session live speech pipeline over streamlit-webrtc audio frames.

    Use :meth:`on_audio_frames` as ``queued_audio_frames_callback`` and :meth:`on_ended`
    as ``on_audio_ended``. Frames (48 kHz, any layout) are downmixed and resampled to
    16 kHz by FFmpeg's resampler in the callback, which does nothing else. A VAD thread
    cuts utterances (:class:`~emotion.speech.vad.UtteranceSegmenter`) into a bounded queue;
    an analysis thread runs :meth:`SpeechEmotionAnalyzer.analyze_segment` on each. When the
    analysis falls behind, the VAD thread waits and audio waits in the inbox: nothing is
    dropped. Threads start with the first frame of a stream and stop after :meth:`on_ended`
    (the last utterance is still analysed) or :meth:`stop`. A new stream (START again)
    gets fresh queues and threads, and its results start from empty.

    Args:
        analyzer: shared, loaded speech models.
        max_queued_utterances: size of the queue between the two threads.
        segmenter_factory: makes the segmenter (injectable for tests).
        clock: monotonic clock in seconds (injectable for tests).
        max_results: the newest this many utterances of a stream are kept (bounded memory in
            a long session; about four hours of steady talk at the default).
    """

    _END = object()

    def __init__(
        self,
        analyzer: SpeechEmotionAnalyzer,
        max_queued_utterances: int = 16,
        segmenter_factory=UtteranceSegmenter,
        clock=time.monotonic,
        max_results: int = 5000,
    ):
        self.analyzer = analyzer
        self.clock = clock
        self.max_queued = max_queued_utterances
        self.segmenter_factory = segmenter_factory
        self._lock = threading.Lock()
        self._run: _SpeechRun | None = None
        self.max_results = max_results
        self._results: deque[Utterance] = deque(maxlen=max_results)
        self._timing: deque[tuple[float | None, float]] = deque(maxlen=max_results)  # (end arrived at, ready at)
        self._error: str | None = None

    # -- callbacks (streamlit-webrtc threads) ------------------------------------------

    async def on_audio_frames(self, frames: list[av.AudioFrame]) -> list[av.AudioFrame]:
        """``queued_audio_frames_callback``: buffer every frame; returns them unchanged."""
        self.feed(frames)
        return frames

    def feed(self, frames: list[av.AudioFrame]) -> None:
        """Resample ``frames`` to mono 16 kHz and hand them to the VAD thread."""
        run = self._current_run()
        for frame in frames:
            for out in run.resampler.resample(frame):
                samples = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                with self._lock:
                    run.received += len(samples)
                run.inbox.put(samples)
        now = self.clock()
        with self._lock:
            run.mark_arrival(now)

    def on_ended(self) -> None:
        """``on_audio_ended``: the stream ended; finish the last utterance, then stop."""
        with self._lock:
            run = self._run
            if run is None or run.ended:
                return
            run.ended = True
        run.inbox.put(self._END)

    # -- threads ---------------------------------------------------------------------

    def _receiving(self) -> bool:
        """Whether the current stream still takes audio (call under the lock)."""
        return self._run is not None and not self._run.ended and not self._run.stop.is_set()

    def _retire(self) -> None:
        """Drop the current stream and its results (call under the lock); its threads finish on
        their own and their late results are discarded."""
        if self._run is not None:
            self._run.stop.set()
        self._run = None
        self._results = deque(maxlen=self.max_results)
        self._timing = deque(maxlen=self.max_results)
        self._error = None

    def _current_run(self) -> _SpeechRun:
        with self._lock:
            if self._receiving():
                return self._run
            self._retire()
            run = self._run = _SpeechRun(self.max_queued, self.clock())
            run.threads = [
                threading.Thread(target=self._vad_loop, args=(run,), name="speech-vad", daemon=True),
                threading.Thread(target=self._analysis_loop, args=(run,), name="speech-analysis", daemon=True),
            ]
        for t in run.threads:
            t.start()
        return run

    def _report(self, run: _SpeechRun, exc: Exception) -> None:
        with self._lock:
            if run is self._run:
                self._error = f"{type(exc).__name__}: {exc}"

    @staticmethod
    def _put_segment(run: _SpeechRun, item) -> bool:
        while not run.stop.is_set():
            try:
                run.segments.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _vad_loop(self, run: _SpeechRun) -> None:
        segmenter = self.segmenter_factory()
        while not run.stop.is_set():
            try:
                item = run.inbox.get(timeout=0.1)
            except queue.Empty:
                continue
            final = item is self._END
            try:
                segments = segmenter.flush() if final else segmenter.push(item)
            except Exception as exc:  # keep draining the inbox: audio must not pile up behind a failure
                log.exception("speech VAD failed")
                self._report(run, exc)
                segments = []
            if not final:
                with self._lock:
                    run.segmented += len(item)
            for seg in segments:
                if not self._put_segment(run, seg):
                    return
            if final:
                break
        self._put_segment(run, self._END)

    def _analysis_loop(self, run: _SpeechRun) -> None:
        while not run.stop.is_set():
            try:
                seg = run.segments.get(timeout=0.1)
            except queue.Empty:
                continue
            if seg is self._END:
                return
            try:
                utterance = self.analyzer.analyze_segment(seg)
            except Exception as exc:  # keep the stream alive; report on the page
                log.exception("utterance analysis failed")
                self._report(run, exc)
                continue
            ready = self.clock()
            with self._lock:
                if run is self._run:
                    self._results.append(utterance)
                    self._timing.append((run.arrival_of(round(utterance.end_s * SAMPLE_RATE)), ready))

    def discard_finished(self) -> None:
        """Forget the results of a stream that has ended or stopped (a new stream starts from
        empty even before its first audio, or when it has no audio at all); a stream still
        receiving audio is left alone."""
        with self._lock:
            if not self._receiving():
                self._retire()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the current stream's threads now (pending audio is discarded); wait up to ``timeout`` s."""
        with self._lock:
            run = self._run
        if run is not None:
            run.stop.set()
            for t in run.threads:
                t.join(timeout)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the current stream's threads to finish after :meth:`on_ended`."""
        with self._lock:
            run = self._run
        if run is not None:
            for t in run.threads:
                t.join(timeout)

    def snapshot(self) -> SpeechSnapshot:
        with self._lock:
            run = self._run
            results, error = tuple(self._results), self._error
            arrived, ready = tuple(a for a, _ in self._timing), tuple(r for _, r in self._timing)
            if run is None:
                return SpeechSnapshot(results, 0.0, 0.0, 0, False, error, None, arrived, ready)
            received, segmented = run.received, run.segmented
            running = any(t.is_alive() for t in run.threads)
        return SpeechSnapshot(
            results,
            received / SAMPLE_RATE,
            max(0, received - segmented) / SAMPLE_RATE,
            run.segments.qsize(),
            running,
            error,
            run.started_at,
            arrived,
            ready,
        )
