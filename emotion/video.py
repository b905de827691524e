"""Video files: faces on frames sampled at a chosen rate (tracked, with stable IDs), the
soundtrack's utterances (transcript, semantic and acoustic emotion), and a fused estimate per
utterance. Decoded by PyAV as a stream, so memory stays bounded for any length.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import av
import numpy as np

from .errors import InputError
from .face.analyzer import FaceEmotionAnalyzer
from .face.track import FaceTracker, TrackedFace
from .fusion import FusedEstimate, average_over_span, fuse
from .labels import NUM_EMOTIONS
from .speech.analyzer import SpeechEmotionAnalyzer, Utterance
from .speech.audio import AudioSource, open_media
from .timeline import Timeline, face_row, fused_row, utterance_row

VIDEO_EXTENSIONS = ("mp4", "mov", "webm", "avi", "mkv")


def video_duration(source: AudioSource) -> float | None:
    """Duration in seconds that the container states, or None.

    Raises:
        InputError: not a video, or no video track.
    """
    with open_media(source) as container:
        if not container.streams.video:
            raise InputError("the file has no video track")
        stream = container.streams.video[0]
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        return container.duration / 1_000_000 if container.duration else None


def iter_sampled_frames(source: AudioSource, sample_fps: float = 2.0) -> Iterator[tuple[float, np.ndarray]]:
    """(time in seconds, uint8 BGR [H, W, 3]) of frames sampled about ``sample_fps`` times a second.

    Raises:
        InputError: not a video, no video track, or corrupt before any frame decoded.
    """
    if sample_fps <= 0:
        raise ValueError(f"sample_fps must be positive, got {sample_fps}")
    step = 1.0 / sample_fps
    with open_media(source) as container:
        if not container.streams.video:
            raise InputError("the file has no video track")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        next_t, decoded = 0.0, False
        try:
            for frame in container.decode(stream):
                decoded = True
                t = float(frame.time) if frame.time is not None else next_t
                if t + 1e-6 >= next_t:
                    next_t = t + step
                    yield t, frame.to_ndarray(format="bgr24")
        except (av.error.FFmpegError, ValueError) as exc:
            if not decoded:
                raise InputError(f"the video could not be decoded: corrupt or unsupported ({exc})") from None


@dataclass
class VideoAnalysis:
    """Results of one video.

    Attributes:
        faces: (time s, tracked faces of that frame, largest first) per sampled frame.
        utterances: the soundtrack's utterances (empty without audio).
        fused: (utterance, fused estimate) for each utterance with at least one modality.
        notes: messages for the user (e.g. "the file has no audio track").
    """

    faces: list[tuple[float, list[TrackedFace]]] = field(default_factory=list)
    utterances: list[Utterance] = field(default_factory=list)
    fused: list[tuple[Utterance, FusedEstimate]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

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

    def analyze(
        self,
        source: AudioSource,
        sample_fps: float = 2.0,
        progress: Callable[[str, float], None] | None = None,
        weights: dict[str, float] | None = None,
    ) -> VideoAnalysis:
        """Analyse ``source`` (path or bytes). ``progress(stage, seconds_done)`` is called as
        frames (stage ``"faces"``) and the soundtrack (``"speech"``) are processed.

        Raises:
            InputError: not a video, no video track, or corrupt.
        """
        result = VideoAnalysis()
        tracker = FaceTracker(smoothing_s=max(0.5, 1.0 / sample_fps))
        for t, image in iter_sampled_frames(source, sample_fps):
            result.faces.append((t, tracker.update(self.faces.analyze(image), t)))
            if progress:
                progress("faces", t)
        if self.speech is not None:
            try:
                for u in self.speech.analyze_file(source, progress=(lambda d, _t: progress("speech", d)) if progress else None):
                    result.utterances.append(u)
            except InputError as exc:
                result.notes.append(f"soundtrack: {exc}")
        times = np.array([t for t, fs in result.faces if fs])
        probs = np.array([fs[0].probabilities for _, fs in result.faces if fs]).reshape(-1, NUM_EMOTIONS)
        for u in result.utterances:
            face = average_over_span(times, probs, u.start_s, u.end_s) if len(times) else None
            fused = fuse({"face": face, "words": u.semantic, "voice": u.acoustic}, weights)
            if fused is not None:
                result.fused.append((u, fused))
        return result
