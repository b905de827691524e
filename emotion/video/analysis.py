"""The analysis of a video file: faces on frames sampled at a chosen rate (tracked, with stable
IDs), the soundtrack's utterances, a fused estimate per utterance, and optionally the annotated
copy (:mod:`emotion.video.writer`), all in one decoding pass (:mod:`emotion.video.decoding`)."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import av

from ..config import FROM_SETTINGS, Default
from ..errors import InputError
from ..face.analyzer import FaceEmotionAnalyzer
from ..face.track import FaceTracker, TrackedFace
from ..fusion import FaceSample, FusedEstimate, face_samples, fuse_utterance
from ..media import (
    MediaSource,
    check_duration,
    display_rotation,
    media_origin,
    media_stream,
    open_media,
    over_duration_note,
    stated_duration,
    upright,
)
from ..schema import SpeechStatus
from ..speech.analyzer import SpeechEmotionAnalyzer, Utterance
from ..timeline import Timeline, face_row, fused_row, utterance_row
from .decoding import FrameClock, VideoDecoder, frame_rate, source_size
from .writer import ANNOTATED_MAX_SIDE, AnnotatedVideoWriter, annotated_size

log = logging.getLogger(__name__)


MIN_TRACK_SCORE = 0.6
"""A tracked face counts in a video only when its mean detector score is at least this: lettering
on a title card, a pattern or a headlight can pass BlazeFace's per-frame threshold (0.5) once or
for a while, with a lower score than real faces (measured: docs/models.md, "Face tracks in video files")."""
MIN_TRACK_HITS = 2
"""...and when it was found on at least this many sampled frames (a one-frame flash is dropped;
a video with a single sampled frame needs one)."""


@dataclass
class VideoAnalysis:
    """Results of one video.

    Attributes:
        faces: (time s, tracked faces of that frame, largest first) per sampled frame.
        utterances: the soundtrack's utterances (empty without audio).
        fused: (utterance, fused estimate) for each utterance with at least one modality.
        notes: messages for the user (e.g. "the file has no audio track").
        dropped_tracks: face tracks dropped as not face-like (:data:`MIN_TRACK_SCORE`,
            :data:`MIN_TRACK_HITS`).
        speech_status: what came of the soundtrack (:class:`~emotion.schema.SpeechStatus`: speech,
            no speech, no audio track, failed (the notes say why), not analysed).
        speech_heard_s: seconds of the soundtrack heard through voice activity detection.
        annotated_video: with ``analyze(..., annotate=True)``: the annotated copy, an MP4 file's
            bytes (H.264 yuv420p at the source's frame rate, longest side at most
            :data:`ANNOTATED_MAX_SIDE` px, the soundtrack in AAC when the source has one); else None.
    """

    faces: list[tuple[float, list[TrackedFace]]] = field(default_factory=list)
    utterances: list[Utterance] = field(default_factory=list)
    fused: list[tuple[Utterance, FusedEstimate]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    annotated_video: bytes | None = None
    speech_status: SpeechStatus = SpeechStatus.NOT_ANALYSED
    speech_heard_s: float = 0.0
    dropped_tracks: int = 0

    def face_samples(self) -> list[FaceSample]:
        """Every tracked face of every sampled frame as :class:`~emotion.fusion.FaceSample` objects."""
        return [s for t, faces in self.faces for s in face_samples(t, faces)]

    def timeline(self, source: str) -> Timeline:
        """Every face, utterance and fused row, as a :class:`~emotion.timeline.Timeline` from ``source``."""
        tl = Timeline()
        for t, faces in self.faces:
            for face in faces:
                tl.add(face_row(face, t, source))
        for u in self.utterances:
            tl.add(utterance_row(u, source))
        for u, fused in self.fused:
            tl.add(fused_row(fused, u.start_s, u.end_s, source))
        return tl


class VideoEmotionAnalyzer:
    """Faces + speech of a video file, fused per utterance (late fusion, :mod:`emotion.fusion`).

    Args:
        faces: the face analyzer; speech: the speech analyzer, or None to skip the soundtrack.
    """

    def __init__(self, faces: FaceEmotionAnalyzer, speech: SpeechEmotionAnalyzer | None = None):
        self.faces = faces
        self.speech = speech

    @staticmethod
    def _drop_unlike_faces(result: VideoAnalysis) -> None:
        """Remove, from every sampled frame, the tracks that do not look like faces at the end of
        the video: fewer than :data:`MIN_TRACK_HITS` frames or a mean detector score below
        :data:`MIN_TRACK_SCORE` (a track's last frame holds its final counts)."""
        final: dict[int, TrackedFace] = {}
        for _, faces in result.faces:
            for f in faces:
                final[f.face_id] = f
        need = min(MIN_TRACK_HITS, len(result.faces))
        kept = {i for i, f in final.items() if f.looks_like_a_face(need, MIN_TRACK_SCORE)}
        result.dropped_tracks = len(final) - len(kept)
        result.faces = [(t, [f for f in faces if f.face_id in kept]) for t, faces in result.faces]
        if result.dropped_tracks:
            result.notes.append(
                f"{result.dropped_tracks} detection track{'s' if result.dropped_tracks != 1 else ''} dropped: "
                f"seen on fewer than {MIN_TRACK_HITS} sampled frames or scored below {MIN_TRACK_SCORE:g} by the face "
                "detector (not face-like, e.g. lettering)"
            )

    def analyze(
        self,
        source: MediaSource,
        sample_fps: float = 2.0,
        progress: Callable[[str, float], None] | None = None,
        weights: dict[str, float] | None = None,
        annotate: bool = False,
        annotate_max_side: int = ANNOTATED_MAX_SIDE,
        max_seconds: float | Default | None = FROM_SETTINGS,
    ) -> VideoAnalysis:
        """Analyse ``source`` (path or bytes).

        Faces are detected on frames sampled about ``sample_fps`` times a second of media time
        (frames turned upright by their display matrix) and tracked
        (:class:`~emotion.face.track.FaceTracker`); the soundtrack (when there is a speech
        analyzer) is cut into utterances on the same timeline, each fused with the face followed
        during it (:func:`~emotion.fusion.fuse_utterance`, ``weights`` per modality). Packets that
        cannot be decoded are skipped and a file that cannot be read to its end stops there; both
        leave a note in :attr:`VideoAnalysis.notes`. ``progress(stage, seconds_done)`` is
        called as frames (stage ``"faces"``) and the soundtrack (``"speech"``) are processed.

        ``annotate=True`` also makes :attr:`VideoAnalysis.annotated_video`: every decoded frame
        (not only the sampled ones) with the latest sampled frame's tracked faces drawn (boxes,
        IDs, labels; :func:`~emotion.face.draw.draw_faces`), scaled so its longest side is at
        most ``annotate_max_side`` px, at the source's frame rate, H.264 (libx264, yuv420p,
        even sides) with the soundtrack re-encoded as AAC, in an MP4 built in memory (nothing
        is written to disk). Its size is bounded by :func:`annotated_bitrate` (about the
        input's size or less). A source faster than ``Settings.max_video_fps`` (60 frames/s) is
        thinned to it, so the copy keeps real time. Frames are decoded once for both the faces
        and the annotated copy; the soundtrack is decoded again by the speech analyzer.

        Limits (the face analyzer's :class:`~emotion.config.Settings`): frames larger than
        ``max_frame_pixels`` are refused from the stream's declared size, before decoding, and
        never decoded later; ``max_seconds`` (default ``max_media_seconds``; None: no limit): a
        file stating a longer duration is refused, and media past it is not analysed (a note).
        A soundtrack that fails, for whatever reason, leaves the faces analysed and a note.

        Raises:
            ValueError: ``sample_fps`` is not positive and finite, or ``annotate_max_side`` is below 2.
            InputError: not a video, no video track, frames over the pixel limit, longer than
                ``max_seconds``, or corrupt before any frame decoded.
        """
        if not (sample_fps > 0 and math.isfinite(sample_fps)):
            raise ValueError(f"sample_fps must be a positive number, got {sample_fps}")
        settings = self.faces.settings
        if max_seconds is FROM_SETTINGS:
            max_seconds = settings.max_media_seconds
        if annotate:
            annotated_size(2, 2, annotate_max_side)  # ValueError now rather than after decoding
        input_bytes = source_size(source) if annotate else None
        result = VideoAnalysis()
        tracker = FaceTracker(smoothing_s=max(0.5, 1.0 / sample_fps))
        with open_media(source, max_pixels=settings.max_frame_pixels) as container:
            stream = media_stream(container, "video", max_pixels=settings.max_frame_pixels)
            check_duration(container, stream, max_seconds)
            has_audio = bool(container.streams.audio)
            origin = media_origin(container)
            clock = FrameClock(sample_fps, frame_rate(stream), origin)
            writer = None
            if annotate:
                try:
                    audio = media_stream(container, "audio") if container.streams.audio else None
                except InputError as exc:
                    audio = None
                    result.notes.append(f"annotated video: {exc}; it is silent")
                try:
                    writer = AnnotatedVideoWriter(
                        stream,
                        audio,
                        input_bytes,
                        stated_duration(container, stream),
                        annotate_max_side,
                        origin,
                        max_fps=settings.max_video_fps,
                    )
                except (InputError, av.error.FFmpegError, ValueError, OSError) as exc:
                    result.notes.append(f"annotated video: {exc}")

            def drop_writer(exc: Exception) -> None:
                # the annotated copy failed: say so, keep the analysis
                nonlocal writer
                writer.abort()
                writer = None
                result.notes.append(f"annotated video: it could not be made ({exc})")

            latest: list[TrackedFace] = []
            done = False
            oversize = 0
            decoder = VideoDecoder(
                container,
                stream,
                origin,
                audio=writer._audio_in if writer is not None else None,
                on_audio_error=writer.audio_failed if writer is not None else None,
            )
            try:
                for frame in decoder:
                    if isinstance(frame, av.AudioFrame):
                        if writer is not None:
                            try:
                                writer.add_audio(frame)
                            except (av.error.FFmpegError, ValueError, OSError) as exc:
                                drop_writer(exc)
                        continue
                    t, sampled = clock.tick(frame)
                    if max_seconds is not None and t >= max_seconds:
                        result.notes.append(over_duration_note(max_seconds))
                        break
                    if frame.width * frame.height > settings.max_frame_pixels:  # the decoder was told; a second lock
                        oversize += 1
                        if oversize == 1:
                            result.notes.append(
                                f"frames from {t:.1f} s on are larger than the limit of {settings.max_frame_pixels:,} "
                                "pixels per frame (EMOTION_MAX_FRAME_PIXELS); they were skipped"
                            )
                        continue
                    decoder.last_t = t
                    if sampled:
                        image = upright(frame.to_ndarray(format="bgr24"), display_rotation(frame))
                        tracked = tracker.update(self.faces.analyze(image), t)
                        result.faces.append((t, tracked))
                        # drawn as soon as they score like faces; single-frame flashes go at the end
                        latest = [f for f in tracked if f.mean_score >= MIN_TRACK_SCORE]
                        if progress:
                            progress("faces", t)
                    if writer is not None:
                        try:
                            writer.add_video(frame, t, latest)
                        except (av.error.FFmpegError, ValueError, OSError) as exc:
                            drop_writer(exc)
                result.notes.extend(decoder.notes)
                if writer is not None:
                    try:
                        result.annotated_video = writer.close()
                        result.notes.extend(writer.notes)
                    except (InputError, av.error.FFmpegError, ValueError, OSError) as exc:
                        drop_writer(exc)
                done = True
            finally:
                if writer is not None and not done:
                    writer.abort()
        self._drop_unlike_faces(result)
        if self.speech is None:
            result.speech_status = SpeechStatus.NOT_ANALYSED
        else:
            heard = [0.0]  # seconds of soundtrack through voice activity detection

            def on_speech(done_s: float, _total_s: float) -> None:
                heard[0] = done_s
                if progress:
                    progress("speech", done_s)

            try:
                for u in self.speech.analyze_file(
                    source,
                    progress=on_speech,
                    on_note=lambda message: result.notes.append(f"soundtrack: {message}"),
                    max_seconds=max_seconds,
                ):
                    result.utterances.append(u)
                result.speech_status = SpeechStatus.SPEECH if result.utterances else SpeechStatus.NO_SPEECH
            except Exception as exc:  # noqa: BLE001 - the faces are done: keep them, say why the sound failed
                if not isinstance(exc, InputError):
                    log.exception("the soundtrack of a video could not be analysed")
                    exc = f"an unexpected error ({type(exc).__name__})"
                result.notes.append(f"soundtrack: {exc}")
                if result.utterances:
                    result.speech_status = SpeechStatus.SPEECH
                else:
                    result.speech_status = SpeechStatus.FAILED if has_audio else SpeechStatus.NO_AUDIO
            result.speech_heard_s = heard[0]
        samples = result.face_samples()
        for u in result.utterances:
            fused = fuse_utterance(u, samples, weights, face_ambiguity=self.faces.classifier.ambiguity)
            if fused is not None:
                result.fused.append((u, fused))
        return result
