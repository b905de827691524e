"""A live session of camera and microphone together: both pipelines on one clock, late
fusion of face + words + voice, and the session's timeline.

One :class:`LiveSession` per browser session. Give streamlit-webrtc
``video_frame_callback=session.video`` (latest-frame-wins face pipeline,
:class:`~emotion.stream.FaceVideoProcessor`), ``queued_audio_frames_callback=
session.speech.on_audio_frames`` and ``on_audio_ended=session.speech.on_ended`` (no-drop
speech pipeline, :class:`~emotion.stream.SpeechStreamProcessor`); one streamer carries both.
The page calls :meth:`LiveSession.snapshot` on each refresh.

Time: the session clock starts (0 s) at the first video frame or audio sample, whichever came
first; face times and utterance times are both shifted onto it, so an utterance's
``[start_s, end_s]`` selects the face samples seen while it was spoken.

Fusion (:func:`emotion.fusion.fuse`, weighted log-linear pool, confidence-weighted):

- per utterance: the followed face's probabilities averaged over the utterance's span + the
  words (semantic) + the voice (acoustic);
- now: the followed face's probabilities averaged over the last ``face_span_s`` seconds (none
  when no face was seen in that time) + the words and voice of the latest utterance while it
  ended less than ``speech_hold_s`` seconds ago (afterwards speech is absent, not stale).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from .face.analyzer import FaceEmotionAnalyzer
from .face.track import TrackedFace
from .fusion import FusedEstimate, average_over_span, fuse
from .speech.analyzer import SpeechEmotionAnalyzer, Utterance
from .stream import FaceVideoProcessor, LiveFaceSnapshot, SpeechSnapshot, SpeechStreamProcessor
from .timeline import Timeline, face_row, fused_row, utterance_row

MODALITIES = ("face", "words", "voice")
"""Names of the fused modalities: the followed face, the words (semantic), the voice (acoustic)."""

SOURCE = "live"


@dataclass(frozen=True)
class DashboardSnapshot:
    """Everything the live dashboard shows, on the session clock (seconds since the first frame
    or sample of the session).

    Attributes:
        now_s: session time now, seconds.
        face: the face pipeline's snapshot; its ``trend_t`` is shifted onto the session clock.
        speech: the speech pipeline's snapshot (its utterance times are not shifted).
        utterances: the utterances, oldest first, with ``start_s``/``end_s`` on the session clock.
        fused_utterances: per utterance, the fused face (over its span) + words + voice, or None
            when no enabled modality had anything.
        fused_now: the current fused emotion, or None.
        latency_s: per utterance, seconds from the arrival of the end of its audio to its
            result (None when unknown).
        face_offset_s: seconds added to the face pipeline's times (since its first frame) to put
            them on the session clock.
    """

    now_s: float
    face: LiveFaceSnapshot
    speech: SpeechSnapshot
    utterances: tuple[Utterance, ...]
    fused_utterances: tuple[FusedEstimate | None, ...]
    fused_now: FusedEstimate | None
    latency_s: tuple[float | None, ...]
    face_offset_s: float = 0.0


def _utterance_key(speech: SpeechSnapshot, u: Utterance) -> tuple[float | None, float]:
    """Identifies an utterance across snapshots: (its stream's start, its start in the stream)."""
    return speech.started_at, u.start_s


class LiveSession:
    """Camera + microphone of one browser session.

    Args:
        faces: the shared face analyzer.
        speech: the shared speech analyzer (``speech.analyzer`` may be swapped later, e.g. for
            another Whisper model; it applies from the next utterance).
        window_s: length of the face trend, seconds.
        face_span_s: the current face is the followed face's mean over this many seconds.
        speech_hold_s: the latest utterance counts in the current fused estimate this many
            seconds after it ended.
        timeline_interval_s: a face row is recorded for the timeline at most this often per
            face ID, seconds.
        max_face_rows: the timeline keeps at most this many face rows (oldest dropped first),
            so memory stays bounded in a long session.
        clock: monotonic clock in seconds (injectable for tests).
    """

    def __init__(
        self,
        faces: FaceEmotionAnalyzer,
        speech: SpeechEmotionAnalyzer,
        window_s: float = 60.0,
        face_span_s: float = 2.0,
        speech_hold_s: float = 10.0,
        timeline_interval_s: float = 0.5,
        max_face_rows: int = 20_000,
        clock=time.monotonic,
    ):
        self.clock = clock
        self.face_span_s = float(face_span_s)
        self.speech_hold_s = float(speech_hold_s)
        self.timeline_interval_s = float(timeline_interval_s)
        self.video = FaceVideoProcessor(faces, window_s=window_s, clock=clock, on_faces=self._record_faces)
        self.speech = SpeechStreamProcessor(speech, clock=clock)
        self._lock = threading.Lock()
        self._face_rows: deque[tuple[float, TrackedFace]] = deque(maxlen=max_face_rows)
        self._last_row: dict[int, float] = {}
        # per utterance, keyed (stream start, utterance start): pruned with the utterances
        self._span_face: dict[tuple[float | None, float], np.ndarray | None] = {}
        self._fused: dict[tuple[float | None, float], tuple[tuple, FusedEstimate | None]] = {}
        self._shown: dict[tuple[float | None, float], float | None] = {}

    # -- worker threads --------------------------------------------------------------

    def _record_faces(self, t: float, tracked: list[TrackedFace]) -> None:
        with self._lock:
            for face in tracked:
                last = self._last_row.get(face.face_id)
                if last is None or t - last >= self.timeline_interval_s or t < last:
                    self._last_row[face.face_id] = t
                    self._face_rows.append((t, face))

    # -- page ------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget the previous stream: face results, utterances of an ended stream, the recorded
        timeline and latencies (call when a new stream starts)."""
        self.video.reset()
        self.speech.discard_finished()
        with self._lock:
            self._face_rows.clear()
            self._last_row.clear()
            self._span_face.clear()
            self._fused.clear()
            self._shown.clear()

    @staticmethod
    def _prune(cache: dict, keys: set) -> None:
        if len(cache) > 2 * len(keys) + 100:  # utterances dropped from the speech history
            for k in [k for k in cache if k not in keys]:
                del cache[k]

    def snapshot(self, weights: Mapping[str, float] | None = None) -> DashboardSnapshot:
        """The dashboard's state now.

        Args:
            weights: user weight >= 0 per name of :data:`MODALITIES` (missing names weigh 1;
                0 switches a modality off in the fusion).

        Raises:
            ValueError: a negative weight (from :func:`emotion.fusion.fuse`).
        """
        face_start = self.video.started_at
        face = self.video.snapshot()
        speech = self.speech.snapshot()
        starts = [s for s in (face_start, speech.started_at) if s is not None]
        origin = min(starts) if starts else None  # the session clock's 0 s
        now = self.clock()
        now_s = 0.0 if origin is None else now - origin
        face_shift = 0.0 if face_start is None or origin is None else face_start - origin
        speech_shift = 0.0 if speech.started_at is None or origin is None else speech.started_at - origin
        trend_t = face.trend_t + face_shift
        face = replace(face, trend_t=trend_t)

        utterances = tuple(replace(u, start_s=u.start_s + speech_shift, end_s=u.end_s + speech_shift) for u in speech.utterances)
        keys = [_utterance_key(speech, u) for u in speech.utterances]
        with self._lock:
            cached = [self._span_face.get(k, ...) for k in keys]
            fused_cache = [self._fused.get(k) for k in keys]
        weights_key = tuple(sorted((weights or {}).items()))
        span_new, fused_new = {}, {}
        fused_utterances: list[FusedEstimate | None] = []
        for key, u, span, hit in zip(keys, utterances, cached, fused_cache, strict=True):
            if span is ...:  # once, while the span is still in the face trend
                span = span_new[key] = average_over_span(trend_t, face.trend_p, u.start_s, u.end_s) if len(trend_t) else None
            if hit is not None and hit[0] == weights_key:
                fused_utterances.append(hit[1])
                continue
            fused = fuse({"face": span, "words": u.semantic, "voice": u.acoustic}, weights)
            fused_new[key] = (weights_key, fused)
            fused_utterances.append(fused)
        if span_new or fused_new:
            with self._lock:
                self._span_face.update(span_new)
                self._fused.update(fused_new)
                current = set(keys)
                self._prune(self._span_face, current)
                self._prune(self._fused, current)

        recent_face = None
        if len(trend_t) and now_s - trend_t[-1] <= self.face_span_s:
            recent_face = average_over_span(trend_t, face.trend_p, now_s - self.face_span_s, now_s)
        latest = utterances[-1] if utterances else None
        fresh = latest is not None and now_s - latest.end_s <= self.speech_hold_s
        fused_now = fuse(
            {
                "face": recent_face,
                "words": latest.semantic if fresh else None,
                "voice": latest.acoustic if fresh else None,
            },
            weights,
        )
        latency = tuple(
            None if arrived is None else ready - arrived
            for arrived, ready in zip(speech.end_arrived_at, speech.ready_at, strict=True)
        )
        return DashboardSnapshot(now_s, face, speech, utterances, tuple(fused_utterances), fused_now, latency, face_shift)

    def mark_shown(self, snap: DashboardSnapshot) -> tuple[float | None, ...]:
        """Record that the page has just shown ``snap``'s utterances.

        Returns, per utterance of ``snap`` (same order), the seconds from the arrival of the end
        of its audio to the moment the page first showed its result (the end-of-utterance ->
        on-page latency), or None when unknown. An utterance is timed the first time only.
        """
        now = self.clock()
        out = []
        with self._lock:
            for u, arrived in zip(snap.speech.utterances, snap.speech.end_arrived_at, strict=True):
                key = _utterance_key(snap.speech, u)
                if key not in self._shown:
                    self._shown[key] = None if arrived is None else now - arrived
                out.append(self._shown[key])
            self._prune(self._shown, {_utterance_key(snap.speech, u) for u in snap.speech.utterances})
        return tuple(out)

    def timeline(self, weights: Mapping[str, float] | None = None) -> Timeline:
        """The session's timeline (source ``"live"``): a face row per face ID at most every
        ``timeline_interval_s`` seconds, every utterance, and the fused estimate of each
        utterance under ``weights``; times on the session clock."""
        snap = self.snapshot(weights)
        tl = Timeline()
        with self._lock:
            rows = list(self._face_rows)
        for t, face in rows:
            tl.add(face_row(face, t + snap.face_offset_s, SOURCE))
        for u, fused in zip(snap.utterances, snap.fused_utterances, strict=True):
            tl.add(utterance_row(u, SOURCE))
            if fused is not None:
                tl.add(fused_row(fused, u.start_s, u.end_s, SOURCE))
        return tl
