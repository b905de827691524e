"""The live microphone: streamlit-webrtc's ``queued_audio_frames_callback``
(:class:`SpeechStreamProcessor`), and what the page reads of it (:class:`SpeechSnapshot`).
Imports ``av``, never ``streamlit``.

The callback receives *every* queued frame, so no audio is dropped. :class:`SpeechStreamProcessor`
only resamples them into an inbox; one thread cuts utterances with VAD, another transcribes and
classifies them. The backlog of audio waiting for analysis is capped (:data:`MAX_BACKLOG_S`): on
a machine too slow to keep up, the oldest waiting speech is skipped, and the snapshot says how
much. Every sample is placed by its frame's own RTP-derived timestamp, as seconds since the
stream's first frame (:class:`~emotion.live.clock.PacketClock`), so neither a late callback nor
a lost packet moves what follows.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import av

from ..speech.analyzer import SpeechEmotionAnalyzer, Utterance
from ..speech.audio import SAMPLE_RATE, AudioBlock, TimedResampler
from ..speech.vad import SpeechSegment, UtteranceSegmenter
from .clock import PacketClock

MAX_BACKLOG_S = 60.0
"""Seconds of received audio that may wait for analysis (VAD, then Whisper and the classifiers)
before the oldest waiting speech is skipped."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpeechSnapshot:
    """What the live speech pipeline has produced so far.

    Attributes:
        utterances: the latest analysed utterances of this stream (all of them, or the newest
            ``last`` asked of :meth:`SpeechStreamProcessor.snapshot`), oldest first; times in
            seconds since the stream's first audio frame, from the frames' timestamps.
        received_s: seconds of audio received since the stream started.
        backlog_s: seconds of received audio waiting for analysis (not yet through VAD, or cut
            into utterances that wait for transcription and classification).
        queued: utterances waiting for transcription and classification.
        running: whether the worker threads are alive.
        error: the last processing error as text, or None.
        started_at: clock time (s) at which this stream's first audio arrived, or None.
        end_arrived_at: per utterance, the clock time (s) at which the end of its audio
            arrived (None when no longer known); with ``ready_at``, the clock time its
            analysis finished, this gives the end-of-utterance -> result latency.
        count: utterances analysed in this stream (may exceed ``len(utterances)``).
        skipped_s: seconds of audio skipped because the backlog went over its cap (the oldest
            waiting speech is dropped so that the analysis catches up).
        received_to_s: media time (seconds since the stream's first audio frame) up to which
            audio has arrived: the stream's newest moment (0 before any).
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
    count: int = 0
    skipped_s: float = 0.0
    received_to_s: float = 0.0


class _SpeechRun:
    """The queues, clock, resampler and threads of one stream (one START..STOP)."""

    ARRIVALS = 8192  # (media time received up to, clock) marks kept: minutes of callbacks

    def __init__(self, clock):
        self.inbox: deque[AudioBlock | object] = deque()  # audio is never dropped on arrival
        self.segments: deque[SpeechSegment | object] = deque()
        self.wake = threading.Condition()  # notified when the inbox or the segments grow
        self.stop = threading.Event()
        self.ended = False
        self.media_clock = PacketClock(clock)
        self.timed = TimedResampler()
        self.feeding = threading.Lock()  # the resampler is fed by the audio callback, flushed by on_ended
        self.received = 0.0  # seconds of audio received
        self.received_to = 0.0  # media time (s) up to which audio has arrived
        self.inbox_n = 0  # samples (16 kHz) in the inbox
        self.queued_n = 0  # samples of the utterances in the segments queue
        self.queued = 0  # utterances in the segments queue
        self.skipped_n = 0  # samples skipped to keep the backlog under its cap
        self.count = 0
        self.arrivals: deque[tuple[float, float]] = deque(maxlen=self.ARRIVALS)
        self.forgotten = float("-inf")  # media time up to the oldest mark dropped from ``arrivals``
        self.threads: list[threading.Thread] = []
        self.conversation = None  # voice normaliser + previous words (SpeechEmotionAnalyzer.new_conversation)

    @property
    def started_at(self) -> float | None:
        return self.media_clock.started_at

    def mark_arrival(self, received_to_s: float, at: float) -> None:
        """Note that the audio up to media time ``received_to_s`` had arrived at clock time ``at``
        (call under the processor's lock)."""
        if len(self.arrivals) == self.arrivals.maxlen:
            self.forgotten = self.arrivals[0][0]
        self.arrivals.append((received_to_s, at))

    def arrival_of(self, t_s: float) -> float | None:
        """Clock time at which the audio at media time ``t_s`` had arrived, or None when that is no
        longer known (call under the processor's lock)."""
        if t_s <= self.forgotten:
            return None
        for received_to, at in self.arrivals:
            if received_to >= t_s - 1e-6:
                return at
        return None


class SpeechStreamProcessor:
    """Per-session live speech pipeline over streamlit-webrtc audio frames.

    Use :meth:`on_audio_frames` as ``queued_audio_frames_callback`` and :meth:`on_ended`
    as ``on_audio_ended``. Frames (48 kHz, any layout) are placed on the stream's media clock by
    their timestamps, downmixed and resampled to 16 kHz (:class:`~emotion.speech.audio.TimedResampler`:
    a lost packet leaves silence, a long gap stays a gap) in the callback, which does nothing
    else. A VAD thread cuts utterances (:class:`~emotion.speech.vad.UtteranceSegmenter`, each
    sample scored once); an analysis thread runs :meth:`SpeechEmotionAnalyzer.analyze_segment`
    on each. Neither waits for the other. When the analysis falls behind by more than
    ``max_backlog_s`` seconds of audio, the oldest waiting audio (first the utterances waiting
    for analysis, then unsegmented audio) is skipped and counted in
    :attr:`SpeechSnapshot.skipped_s`: memory stays flat on a slow machine, and the times of
    what follows do not move. Threads start with the first frame of a stream and stop after
    :meth:`on_ended` (the last utterance is still analysed) or :meth:`stop`. A new stream
    (START again) gets fresh queues and threads, and its results start from empty.

    Args:
        analyzer: shared, loaded speech models.
        max_backlog_s: seconds of audio that may wait for analysis before the oldest is skipped.
        segmenter_factory: makes the segmenter (injectable for tests).
        clock: monotonic clock in seconds (injectable for tests).
        max_results: the newest this many utterances of a stream are kept (bounded memory in
            a long session; about four hours of steady talk at the default).
    """

    _END = object()

    def __init__(
        self,
        analyzer: SpeechEmotionAnalyzer,
        max_backlog_s: float = MAX_BACKLOG_S,
        segmenter_factory: Callable[[], UtteranceSegmenter] = UtteranceSegmenter,
        clock: Callable[[], float] = time.monotonic,
        max_results: int = 5000,
    ):
        self.analyzer = analyzer
        self.clock = clock
        self.max_backlog_s = float(max_backlog_s)
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
        """Place ``frames`` on the stream's media clock, resample them to mono 16 kHz and hand
        them to the VAD thread."""
        run = self._current_run()
        blocks: list[AudioBlock] = []
        received = 0.0
        with run.feeding:
            for frame in frames:
                t = run.media_clock.seconds(frame.pts, frame.time_base)
                blocks += run.timed.push(frame, t)
                received += frame.samples / frame.sample_rate
        now = self.clock()
        with run.wake:
            run.inbox.extend(blocks)
        with self._lock:
            run.received += received
            run.inbox_n += sum(len(b.samples) for b in blocks)
            if blocks:
                run.mark_arrival(blocks[-1].end_s, now)
                run.received_to = max(run.received_to, blocks[-1].end_s)
        if blocks:
            with run.wake:
                run.wake.notify_all()

    def on_ended(self) -> None:
        """``on_audio_ended``: the stream ended; finish the last utterance, then stop."""
        with self._lock:
            run = self._run
            if run is None or run.ended:
                return
            run.ended = True
        with run.feeding:
            tail = run.timed.flush()
        with run.wake:
            run.inbox.extend(tail)
            run.inbox.append(self._END)
            run.wake.notify_all()
        with self._lock:
            run.inbox_n += sum(len(b.samples) for b in tail)

    # -- threads ---------------------------------------------------------------------

    def _receiving(self) -> bool:
        """Whether the current stream still takes audio (call under the lock)."""
        return self._run is not None and not self._run.ended and not self._run.stop.is_set()

    def _retire(self) -> None:
        """Drop the current stream and its results (call under the lock); its threads finish on
        their own and their late results are discarded."""
        if self._run is not None:
            self._run.stop.set()  # its threads see it within 0.1 s (never take run.wake under self._lock)
        self._run = None
        self._results = deque(maxlen=self.max_results)
        self._timing = deque(maxlen=self.max_results)
        self._error = None

    def _current_run(self) -> _SpeechRun:
        with self._lock:
            if self._receiving():
                return self._run
            self._retire()
            run = self._run = _SpeechRun(self.clock)
            run.conversation = self.analyzer.new_conversation()
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
    def _take(run: _SpeechRun, queue: deque):
        """The next item of ``queue`` (waits while it is empty), or None once the run is stopped."""
        with run.wake:
            while not queue:
                if run.stop.is_set():
                    return None
                run.wake.wait(0.1)
            return queue.popleft()

    def _skip_over_cap(self, run: _SpeechRun) -> None:
        """Skip the oldest waiting audio while the backlog is over the cap (call with run.wake held;
        the lock order is run.wake, then self._lock)."""
        while True:
            with self._lock:
                over = run.inbox_n + run.queued_n > self.max_backlog_s * SAMPLE_RATE
                queue, attr = (run.segments, "queued_n") if run.queued_n else (run.inbox, "inbox_n")
            if not over:
                return
            item = next((x for x in queue if x is not self._END), None)
            if item is None:
                return
            queue.remove(item)
            with self._lock:
                setattr(run, attr, getattr(run, attr) - len(item.samples))
                run.skipped_n += len(item.samples)
                if queue is run.segments:
                    run.queued -= 1

    def _vad_loop(self, run: _SpeechRun) -> None:
        segmenter = self.segmenter_factory()
        while True:
            with run.wake:
                self._skip_over_cap(run)
            item = self._take(run, run.inbox)
            if item is None:
                return
            final = item is self._END
            try:
                segments = segmenter.flush() if final else segmenter.push(item.samples, item.start_s)
            except Exception as exc:  # keep draining the inbox: audio must not pile up behind a failure
                log.exception("speech VAD failed")
                self._report(run, exc)
                segments = []
            with self._lock:
                if not final:
                    run.inbox_n -= len(item.samples)
                run.queued_n += sum(len(seg.samples) for seg in segments)
                run.queued += len(segments)
            with run.wake:
                run.segments.extend(segments)
                if final:
                    run.segments.append(self._END)
                run.wake.notify_all()
            if final:
                return

    def _analysis_loop(self, run: _SpeechRun) -> None:
        while True:
            seg = self._take(run, run.segments)
            if seg is None or seg is self._END:
                return
            with self._lock:
                run.queued_n -= len(seg.samples)
                run.queued -= 1
            try:
                utterance = self.analyzer.analyze_segment(seg, run.conversation)
            except Exception as exc:  # keep the stream alive; report on the page
                log.exception("utterance analysis failed")
                self._report(run, exc)
                continue
            ready = self.clock()
            with self._lock:
                if run is self._run:
                    run.count += 1
                    self._results.append(utterance)
                    self._timing.append((run.arrival_of(utterance.end_s), ready))

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
            with run.wake:
                run.wake.notify_all()
            for t in run.threads:
                t.join(timeout)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the current stream's threads to finish after :meth:`on_ended`."""
        with self._lock:
            run = self._run
        if run is not None:
            for t in run.threads:
                t.join(timeout)

    def snapshot(self, last: int | None = None) -> SpeechSnapshot:
        """The pipeline's state now, with the newest ``last`` utterances (all when None): the
        work of a page refresh stays the same however long the session runs."""
        with self._lock:
            run = self._run
            n = len(self._results) if last is None else min(last, len(self._results))
            # from the newest end: the copy costs the window, not the history
            results = tuple(reversed(tuple(itertools.islice(reversed(self._results), n))))
            timing = tuple(reversed(tuple(itertools.islice(reversed(self._timing), n))))
            error = self._error
            arrived, ready = tuple(a for a, _ in timing), tuple(r for _, r in timing)
            if run is None:
                return SpeechSnapshot(results, 0.0, 0.0, 0, False, error, None, arrived, ready, len(results), 0.0)
            received, count, received_to = run.received, run.count, run.received_to
            backlog, skipped = (run.inbox_n + run.queued_n) / SAMPLE_RATE, run.skipped_n / SAMPLE_RATE
            running = any(t.is_alive() for t in run.threads)
            queued = run.queued
        return SpeechSnapshot(
            results, received, backlog, queued, running, error, run.started_at, arrived, ready, count, skipped, received_to
        )
