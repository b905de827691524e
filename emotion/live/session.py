"""A live session of camera and microphone together: both pipelines on one clock, late
fusion of the face, the words (semantic) and the voice (acoustic), and the session's timeline.

One :class:`LiveSession` per browser session. Give streamlit-webrtc
``video_frame_callback=session.video`` (latest-frame-wins face pipeline,
:class:`~emotion.live.FaceVideoProcessor`), ``queued_audio_frames_callback=
session.speech.on_audio_frames`` and ``on_audio_ended=session.speech.on_ended`` (no-drop
speech pipeline, :class:`~emotion.live.SpeechStreamProcessor`); one streamer carries both.
The page calls :meth:`LiveSession.snapshot` on each refresh.

Time: each stream (camera, microphone) places its frames by their own timestamps, as seconds
since its first frame (:class:`~emotion.media.PacketClock`); the session clock starts (0 s) at
the arrival of the first video frame or audio frame, whichever came first, and each stream is
put on it by the arrival of its first frame. So an utterance's ``[start_s, end_s]`` selects the
face samples seen while it was spoken, whatever the processing delays.

Fusion (:func:`emotion.fusion.fuse`, certainty-weighted late fusion):

- per utterance: :func:`emotion.fusion.fuse_utterance`, the same function video files use: the
  face followed over the utterance's span (:func:`emotion.fusion.face_over_span`) + the words
  (semantic) + the voice (acoustic);
- now: the face followed over the last ``face_span_s`` seconds of the stream, by the same rule
  (none when no face was seen in that time) + the words and voice of the latest utterance
  while it ended less than ``speech_hold_s`` seconds before the stream's newest moment
  (afterwards speech is absent, not stale). While the stream plays, "now" is the session
  clock's present; once it has ended (STOP: ``snapshot(ended=True)``) it is the stream's last
  moment (the latest analysed video frame or received audio sample), so the numbers keep
  describing the last seconds of the stream instead of dropping the face and keeping the words.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

import numpy as np

from ..face.analyzer import FaceEmotionAnalyzer
from ..face.track import TrackedFace
from ..fusion import FaceSample, FusedEstimate, face_over_span, face_samples, fuse_modalities, fuse_utterance
from ..labels import EMOTIONS
from ..schema import MODALITIES
from ..speech.analyzer import SpeechEmotionAnalyzer, Utterance
from ..timeline import Timeline, face_row, fused_row, utterance_row
from .face import FaceVideoProcessor, LiveFaceSnapshot
from .metrics import ShownLatencies, analysis_latencies
from .speech import MAX_BACKLOG_S, SpeechSnapshot, SpeechStreamProcessor

SOURCE = "live"


@dataclass(frozen=True)
class DashboardSnapshot:
    """Everything the live dashboard shows, on the session clock (seconds since the first frame
    or sample of the session).

    Attributes:
        now_s: session time now, seconds.
        face: the face pipeline's snapshot; its ``trend_t`` is shifted onto the session clock.
        speech: the speech pipeline's snapshot (its utterance times are not shifted).
        utterances: the latest utterances (a bounded window: ``speech.count`` says how many there
            are in all), oldest first, with ``start_s``/``end_s`` on the session clock.
        fused_utterances: per utterance, the fused face (over its span) + words + voice, or None
            when no enabled modality had anything.
        fused_now: the current fused emotion, or None.
        latency_s: per utterance, seconds from the arrival of the end of its audio to its
            result (None when unknown).
        face_offset_s: seconds added to the face pipeline's times (since its first frame) to put
            them on the session clock.
        media_end_s: the stream's newest moment on the session clock, seconds: the latest
            analysed video frame or received audio sample (None before any). ``fused_now``
            describes the time up to it.
        now_face_window: (start, end) seconds on the session clock over which the face in
            ``fused_now`` is averaged (the last ``face_span_s`` seconds up to ``media_end_s``).
        now_face_ambiguous: whether the face in ``fused_now`` is a toss-up between its top two
            labels (the face model's :class:`~emotion.face.ambiguity.AmbiguityRule`), so it counts
            at :data:`~emotion.fusion.AMBIGUOUS_FACE_WEIGHT` of its weight.
        now_utterance: the utterance whose words and voice count in ``fused_now`` (the latest
            one, while it ended at most ``speech_hold_s`` seconds before ``media_end_s``), or None.
    """

    now_s: float
    face: LiveFaceSnapshot
    speech: SpeechSnapshot
    utterances: tuple[Utterance, ...]
    fused_utterances: tuple[FusedEstimate | None, ...]
    fused_now: FusedEstimate | None
    latency_s: tuple[float | None, ...]
    face_offset_s: float = 0.0
    media_end_s: float | None = None
    now_face_window: tuple[float, float] | None = None
    now_utterance: Utterance | None = None
    face_span_s: float = 2.0
    speech_hold_s: float = 10.0
    now_face_ambiguous: bool = False

    def now_parts(self, weights: Mapping[str, float] | None = None, devices_off: Iterable[str] = ()) -> tuple[ModalityPart, ...]:
        """Face, words and voice as they enter :attr:`fused_now` under ``weights`` (the same
        weights given to :meth:`LiveSession.snapshot`): what each says, its share of the weight,
        and the seconds it covers. ``devices_off``: ``"camera"`` and/or ``"microphone"``, the
        devices the stream was started without (their modalities are noted "camera off" /
        "microphone off" instead of what is missing)."""
        weights = weights or {}
        devices_off = set(devices_off)
        fused = self.fused_now
        says = fused.says() if fused is not None else {}
        shares = fused.shares() if fused is not None else {}
        u = self.now_utterance
        parts = []
        for name in MODALITIES:
            if name == "face":
                window = self.now_face_window
                vector = says.get("face")
                missing = f"no readable face in the last {self.face_span_s:g} s"  # none, or turned away, too small, blurred
            else:
                window = None if u is None else (u.start_s, u.end_s)
                vector = None if u is None else (u.semantic if name == "semantic" else u.acoustic)
                vector = None if vector is None else (EMOTIONS[int(np.argmax(vector))], float(np.max(vector)))
                if u is None:
                    missing = f"no utterance in the last {self.speech_hold_s:g} s"
                elif name == "semantic":
                    missing = "no usable words"
                else:
                    missing = "no voice result"
            device = "camera" if name == "face" else "microphone"
            if device in devices_off:
                note = f"{device} off"
            elif float(weights.get(name, 1.0)) == 0:
                note = "switched off"
            elif vector is None:
                note = missing
            elif name not in shares:
                note = "too uncertain"
            elif name == "acoustic" and u is not None and u.acoustic_uncertain:
                note = "uncertain: ¼"
            elif name == "face" and self.now_face_ambiguous:
                note = "ambiguous: ½"
            else:
                note = ""
            label, probability = vector if vector is not None else (None, None)
            parts.append(ModalityPart(name, label, probability, shares.get(name, 0.0), window, note))
        return tuple(parts)


@dataclass(frozen=True)
class ModalityPart:
    """What one modality contributes to the current fused estimate (one row of the dashboard's
    fusion panel).

    Attributes:
        name: ``"face"``, ``"semantic"`` or ``"acoustic"`` (:data:`emotion.schema.MODALITIES`).
        label: the modality's own label now, or None when it has nothing.
        probability: the modality's probability of ``label`` (0..1), or None.
        share: its share of the fused estimate's total effective weight (0..1; 0 when it took
            no part).
        window: (start, end) seconds on the session clock that its probabilities cover, or None.
        note: why it takes no part or counts less ("switched off", "no readable face in the last 2 s",
            ...), or "".
    """

    name: str
    label: str | None
    probability: float | None
    share: float
    window: tuple[float, float] | None
    note: str = ""


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
        snapshot_utterances: :meth:`snapshot` covers the newest this many utterances, so a page
            refresh costs the same however long the session runs.
        face_memory_s: face samples are kept this long for the fusion of utterances whose analysis
            is still to come (twice the speech backlog cap).
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
        snapshot_utterances: int = 50,
        face_memory_s: float = 2 * MAX_BACKLOG_S,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.clock = clock
        self.face_span_s = float(face_span_s)
        self.speech_hold_s = float(speech_hold_s)
        self.timeline_interval_s = float(timeline_interval_s)
        self.snapshot_utterances = int(snapshot_utterances)
        self.face_memory_s = float(face_memory_s)
        self.face_ambiguity = faces.classifier.ambiguity  # an ambiguous face counts less in fusion
        self.video = FaceVideoProcessor(faces, window_s=window_s, clock=clock, on_faces=self._record_faces)
        self.speech = SpeechStreamProcessor(speech, clock=clock)
        self._lock = threading.Lock()
        self._face_rows: deque[tuple[float, TrackedFace]] = deque(maxlen=max_face_rows)
        self._last_row: dict[int, float] = {}
        self._samples: deque[FaceSample] = deque()  # media time of the video stream, last face_memory_s
        # per utterance, keyed (stream start, utterance start): pruned with the utterances
        self._span_samples: dict[tuple[float | None, float], list[FaceSample]] = {}
        self._fused: dict[tuple[float | None, float], tuple[tuple, FusedEstimate | None]] = {}
        self._shown = ShownLatencies(clock)

    # -- worker threads --------------------------------------------------------------

    def _record_faces(self, t: float, tracked: list[TrackedFace]) -> None:
        with self._lock:
            self._samples.extend(face_samples(t, tracked))
            while self._samples and self._samples[0].t_s < t - self.face_memory_s:
                self._samples.popleft()
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
            self._samples.clear()
            self._span_samples.clear()
            self._fused.clear()
        self._shown.clear()

    @staticmethod
    def _prune(cache: dict, keys: set) -> None:
        if len(cache) > 2 * len(keys) + 100:  # utterances dropped from the speech history
            for k in [k for k in cache if k not in keys]:
                del cache[k]

    def snapshot(
        self, weights: Mapping[str, float] | None = None, last: int | None = None, ended: bool = False
    ) -> DashboardSnapshot:
        """The dashboard's state now, over the newest ``last`` utterances (default
        ``snapshot_utterances``).

        Args:
            weights: user weight >= 0 per name of :data:`MODALITIES` (missing names weigh 1;
                0 switches a modality off in the fusion).
            last: how many of the newest utterances to cover (0 or more; the timeline export
                passes the whole history).
            ended: the stream has ended (the page's STOP): the current fused estimate describes
                the stream's last moments (:attr:`DashboardSnapshot.media_end_s`) rather than
                the present, when nothing arrives any more.

        Raises:
            ValueError: a negative weight (from :func:`emotion.fusion.fuse`).
        """
        face_start = self.video.started_at
        face = self.video.snapshot()
        speech = self.speech.snapshot(last=self.snapshot_utterances if last is None else last)
        starts = [s for s in (face_start, speech.started_at) if s is not None]
        origin = min(starts) if starts else None  # the session clock's 0 s
        now = self.clock()
        now_s = 0.0 if origin is None else now - origin
        face_shift = 0.0 if face_start is None or origin is None else face_start - origin
        speech_shift = 0.0 if speech.started_at is None or origin is None else speech.started_at - origin
        face = replace(face, trend_t=face.trend_t + face_shift)

        utterances = tuple(replace(u, start_s=u.start_s + speech_shift, end_s=u.end_s + speech_shift) for u in speech.utterances)
        keys = [_utterance_key(speech, u) for u in speech.utterances]
        with self._lock:
            spans = [self._span_samples.get(k) for k in keys]
            fused_cache = [self._fused.get(k) for k in keys]
            samples = list(self._samples) if any(s is None for s in spans) else []
        weights_key = tuple(sorted((weights or {}).items()))
        span_new, fused_new = {}, {}
        fused_utterances: list[FusedEstimate | None] = []
        for key, u, span, hit in zip(keys, utterances, spans, fused_cache, strict=True):
            # the utterance on the video stream's clock: the face samples seen while it was spoken
            on_video = replace(u, start_s=u.start_s - face_shift, end_s=u.end_s - face_shift)
            if span is None:  # once, while the span is still in memory
                span = span_new[key] = [s for s in samples if on_video.start_s <= s.t_s <= on_video.end_s]
            if hit is not None and hit[0] == weights_key:
                fused_utterances.append(hit[1])
                continue
            fused = fuse_utterance(on_video, span, weights, face_ambiguity=self.face_ambiguity)
            fused_new[key] = (weights_key, fused)
            fused_utterances.append(fused)
        if span_new or fused_new:
            with self._lock:
                self._span_samples.update(span_new)
                self._fused.update(fused_new)
                current = set(keys)
                self._prune(self._span_samples, current)
                self._prune(self._fused, current)

        # "now" for the current estimate: the present while the stream plays, its last moment after STOP
        ends = []
        if face.latest_t_s is not None:
            ends.append(face.latest_t_s + face_shift)
        if speech.started_at is not None and speech.received_to_s > 0:
            ends.append(speech.received_to_s + speech_shift)
        media_end = max(ends) if ends else None
        anchor = media_end if ended and media_end is not None else now_s
        since = anchor - face_shift - self.face_span_s  # on the video stream's clock
        with self._lock:
            recent = list(itertools.takewhile(lambda s: s.t_s >= since, reversed(self._samples)))
        latest = utterances[-1] if utterances else None
        fresh = latest is not None and anchor - latest.end_s <= self.speech_hold_s
        face_now = face_over_span(recent, since, anchor - face_shift)
        fused_now = fuse_modalities(
            face_now,
            latest.semantic if fresh else None,
            latest.acoustic if fresh else None,
            weights,
            acoustic_uncertain=fresh and latest.acoustic_uncertain,
            face_ambiguity=self.face_ambiguity,
        )
        latency = analysis_latencies(speech)
        return DashboardSnapshot(
            now_s,
            face,
            speech,
            utterances,
            tuple(fused_utterances),
            fused_now,
            latency,
            face_shift,
            media_end,
            (max(0.0, anchor - self.face_span_s), anchor),
            latest if fresh else None,
            self.face_span_s,
            self.speech_hold_s,
            fused_now is not None and fused_now.face_ambiguous,
        )

    def mark_shown(self, snap: DashboardSnapshot) -> tuple[float | None, ...]:
        """Record that the page has just shown ``snap``'s utterances.

        Returns, per utterance of ``snap`` (same order), the seconds from the arrival of the end
        of its audio to the moment the page first showed its result (the end-of-utterance ->
        on-page latency), or None when unknown. An utterance is timed the first time only.
        """
        return self._shown.mark(
            (_utterance_key(snap.speech, u), arrived)
            for u, arrived in zip(snap.speech.utterances, snap.speech.end_arrived_at, strict=True)
        )

    def shown_latencies(self) -> list[float]:
        """The end-of-utterance -> on-page latencies (seconds) recorded so far by
        :meth:`mark_shown`, for the recent utterances; reading them marks nothing."""
        return self._shown.values()

    def timeline(self, weights: Mapping[str, float] | None = None) -> Timeline:
        """The session's timeline (source ``"live"``): a face row per face ID at most every
        ``timeline_interval_s`` seconds, every utterance, and the fused estimate of each
        utterance under ``weights``; times on the session clock."""
        snap = self.snapshot(weights, last=self.speech.max_results)
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
