"""One path from a file to a result: :func:`analyze` turns a photo, an audio file, a video or a
text file (a path or its bytes) into one typed :class:`Analysis`, over an :class:`Analyzers`
object that loads every model once from :class:`~emotion.config.Settings`.

The pages, the CLI (:mod:`emotion.cli`), batch analysis (:mod:`emotion.batch`) and the HTTP
service all call it, so the same file gives the same rows through each (tests/test_analysis.py).
The orchestrator over small model wrappers is InsightFace's ``FaceAnalysis`` habit::

    import emotion
    result = emotion.analyze("meeting.mp4")          # models load on first use, once per Settings
    for row in result.rows(): ...                    # the timeline (emotion.timeline.TIMELINE_COLUMNS)
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from .analyzers import Analyzers, default_analyzers
from .config import MAX_SAMPLE_FPS, Settings
from .errors import EmotionError, InputError
from .formats import EXTENSIONS, KINDS, Kind, accepted_extensions, kind_of
from .frozen import FrozenResult
from .schema import SpeechStatus
from .timeline import Timeline, face_row, fused_row, utterance_row

Source = str | Path | bytes
"""A file's path, or its bytes (then give its ``name`` or ``kind``)."""

ProgressFn = Callable[[str, float, float | None], None]
"""``progress(stage, seconds_done, seconds_total)``: ``stage`` is ``"faces"`` (a video's frames)
or ``"speech"`` (a soundtrack or an audio file); seconds of media time, the total None when the
file does not state its duration."""

DEFAULT_SAMPLE_FPS = 2.0
"""Video frames analysed per media second unless told otherwise."""


@dataclass(frozen=True, eq=False)
class Analysis(FrozenResult):
    """The result of one file.

    Attributes:
        source: the file's name (the timeline's ``source``).
        kind: what was analysed: ``image``, ``audio``, ``video`` or ``text`` (a video file
            without a video stream is ``audio``).
        duration_s: media duration (s) as the container states it; None for photos, text, or
            when the file does not say.
        faces: (media time s, faces of that frame) per analysed frame, in time order: a photo
            is one frame at 0.0 s with :class:`~emotion.face.analyzer.FaceEmotion` objects
            (largest first); a video's frames hold tracked faces
            (:class:`~emotion.face.track.TrackedFace`, stable ``face_id``).
        utterances: :class:`~emotion.speech.analyzer.Utterance` objects in time order (a text
            file: one per non-empty line, its line number as start and end).
        fused: (utterance, :class:`~emotion.fusion.FusedEstimate`) per utterance of a video
            with at least one modality (late fusion with the face followed during it).
        notes: what did not stop the analysis (a damaged packet, a cut line, no face found), in order.
        speech_status: audio and video: what came of the speech
            (:class:`~emotion.schema.SpeechStatus`; :func:`emotion.display.speech` says it in
            words); None for photos and text.
        speech_heard_s: audio and video: seconds of audio heard through voice activity detection.
        image_size: a photo's (width, height) in pixels, upright.
        annotated: with ``annotate=True``: a photo's PNG with the faces drawn, or a video's
            annotated MP4 (:attr:`emotion.video.VideoAnalysis.annotated_video`); else None.
        preview: with ``annotate=True`` and ``preview_max_side``: the annotated photo scaled to
            fit, uint8 BGR [h, w, 3] (for display); else None.
        dropped_tracks: a video's face tracks dropped as not face-like.
    """

    source: str
    kind: Kind
    duration_s: float | None = None
    faces: tuple = ()
    utterances: tuple = ()
    fused: tuple = ()
    notes: tuple[str, ...] = ()
    speech_status: SpeechStatus | None = None
    speech_heard_s: float | None = None
    image_size: tuple[int, int] | None = None
    annotated: bytes | None = field(default=None, repr=False)
    preview: object = field(default=None, repr=False, compare=False)
    dropped_tracks: int = 0

    def timeline(self) -> Timeline:
        """Every face, utterance and fused row (:data:`~emotion.timeline.TIMELINE_COLUMNS`).
        A photo's faces are numbered 1..n, largest first."""
        tl = Timeline()
        for t, faces in self.faces:
            for i, face in enumerate(faces, start=1):
                row = face_row(face, t, self.source)
                if row["face_id"] is None:
                    row["face_id"] = i
                tl.add(row)
        for u in self.utterances:
            tl.add(utterance_row(u, self.source))
        for u, fused in self.fused:
            tl.add(fused_row(fused, u.start_s, u.end_s, self.source))
        return tl

    def rows(self) -> list[dict]:
        """:meth:`timeline`'s rows, by start time."""
        return self.timeline().rows()

    def nothing_found(self) -> str | None:
        """``"no face found"`` for a photo without a face, ``"no speech found"`` for an audio
        file without an utterance; else None (a video's :attr:`speech_status` says what came of
        its soundtrack)."""
        if self.kind == "image" and not any(f for _, f in self.faces):
            return "no face found"
        if self.kind == "audio" and not self.utterances:
            return "no speech found"
        return None

    def all_notes(self) -> tuple[str, ...]:
        """:attr:`notes`, then :meth:`nothing_found` when it says something (what the CLI and
        batch report for a file)."""
        nothing = self.nothing_found()
        return (*self.notes, nothing) if nothing else self.notes

    def face_count(self) -> int:
        """Distinct faces: a photo's faces, a video's tracks."""
        if self.kind == "image":
            return sum(len(f) for _, f in self.faces)
        return len({getattr(f, "face_id", None) for _, faces in self.faces for f in faces})


def _name_of(source: Source, name: str | None) -> str:
    if name:
        return Path(str(name)).name or str(name)
    if isinstance(source, (str, Path)):
        return Path(source).name
    return "upload"


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise InputError(f"no such file: {path}")


def resolve_kind(source: Source, kind: str | None, name: str) -> Kind:
    """The kind to analyse ``source`` as: ``kind`` when given, else from ``name``'s extension,
    where a ``video`` with no video stream (an audio-only webm or mp4) is ``audio``.

    Raises:
        InputError: an unknown ``kind``, or an extension of no supported kind.
    """
    inferred = kind is None
    if kind is None:
        kind = kind_of(name)
        if kind is None:
            raise InputError(
                f"{name} is not a photo, audio, video or text file by its extension (accepted: {accepted_extensions()}, txt)"
            )
    if kind not in KINDS:
        raise InputError(f"unknown kind {kind!r}: one of {', '.join(KINDS)}")
    if kind == "video" and inferred:
        from .media import open_media

        try:
            with open_media(source) as container:
                if not container.streams.video and container.streams.audio:
                    return "audio"
        except InputError:
            pass  # the video analysis says why
    return kind


def analyze(
    source: Source,
    *,
    kind: str | None = None,
    name: str | None = None,
    settings: Settings | None = None,
    analyzers: Analyzers | None = None,
    sample_fps: float = DEFAULT_SAMPLE_FPS,
    weights: dict[str, float] | None = None,
    annotate: bool = False,
    preview_max_side: int | None = None,
    progress: ProgressFn | None = None,
) -> Analysis:
    """Analyse one file of any supported kind into an :class:`Analysis`.

    Args:
        source: a path, or the file's bytes.
        kind: ``image``, ``audio``, ``video`` or ``text``; default: from the extension of
            ``name`` or of the path (:mod:`emotion.formats`), a video file without a video
            stream then read as audio.
        name: the file's name (the rows' ``source``); default: the path's name, or ``upload``.
        settings: used when ``analyzers`` is None (default :meth:`Settings.from_env`); the limits
            are ``analyzers.settings``'s: photo pixels and bytes, video frame pixels, media
            seconds, text characters and text file bytes.
        analyzers: the loaded models (default: one :class:`Analyzers` per settings, cached).
        sample_fps: video frames analysed per media second, above 0 and at most :data:`MAX_SAMPLE_FPS`.
        weights: late-fusion weight per modality (``face``, ``words``, ``voice``) for a video.
        annotate: also make :attr:`Analysis.annotated` (photo PNG, video MP4).
        preview_max_side: with ``annotate``, also a display copy of a photo at most this many pixels a side.
        progress: :data:`ProgressFn`, called as media is processed.

    Raises:
        InputError: the file is missing, of no supported kind, empty, corrupt, over a limit,
            or (text) not UTF-8.
        ModelError: a model file is missing or corrupt.
        ValueError: ``sample_fps`` out of range.
    """
    if not (isinstance(sample_fps, (int, float)) and math.isfinite(sample_fps) and 0 < sample_fps <= MAX_SAMPLE_FPS):
        raise ValueError(f"sample_fps must be a number above 0 and at most {MAX_SAMPLE_FPS:g}, got {sample_fps}")
    if not isinstance(source, (str, Path, bytes, bytearray, memoryview)):
        raise InputError(f"cannot analyse a {type(source).__name__}: give a path or the file's bytes")
    if isinstance(source, (bytearray, memoryview)):
        source = bytes(source)
    if isinstance(source, str):
        source = Path(source)
    analyzers = analyzers or default_analyzers(settings or Settings.from_env())
    name = _name_of(source, name)
    if isinstance(source, Path):
        _check_file(source)
    kind = resolve_kind(source, kind, name)
    if kind == "image":
        return _image(source, name, analyzers, annotate, preview_max_side)
    if kind == "audio":
        return _audio(source, name, analyzers, progress)
    if kind == "video":
        return _video(source, name, analyzers, sample_fps, weights, annotate, progress)
    return _text(source, name, analyzers)


def _image(source: Source, name: str, analyzers: Analyzers, annotate: bool, preview_max_side: int | None) -> Analysis:
    from .images import MAX_IMAGE_BYTES, decode_image, encode_png, fit_within, pad_to_aspect

    size = source.stat().st_size if isinstance(source, Path) else len(source)
    if size > MAX_IMAGE_BYTES:
        raise InputError(f"{name} is {size / 2**20:.0f} MB, more than {MAX_IMAGE_BYTES // 2**20} MB for a photo")
    data = source.read_bytes() if isinstance(source, Path) else source
    face_analyzer = analyzers.faces
    image = decode_image(data, max_pixels=analyzers.settings.max_image_pixels)
    del data
    faces = tuple(face_analyzer.analyze_photo(image))
    height, width = image.shape[:2]
    annotated = preview = None
    if annotate:
        from .face import draw_faces

        drawn = draw_faces(image, list(faces), copy=False) if faces else image
        if preview_max_side:
            preview = pad_to_aspect(fit_within(drawn, preview_max_side))
        annotated = encode_png(drawn) if faces else None
    return Analysis(
        source=name,
        kind="image",
        faces=((0.0, faces),),
        notes=(),
        image_size=(int(width), int(height)),
        annotated=annotated,
        preview=preview,
    )


def stated_duration_of(kind: str, source: Source) -> float | None:
    """The media duration (s) that an audio or video file's container states, or None (no
    duration stated, or a file the analysis will refuse with its own message)."""
    from .speech.audio import probe_audio
    from .video import video_duration

    try:
        return video_duration(source) if kind == "video" else probe_audio(source).duration_s
    except EmotionError:
        return None  # the analysis raises the real error


def _audio(source: Source, name: str, analyzers: Analyzers, progress: ProgressFn | None) -> Analysis:
    speech = analyzers.speech
    notes: list[str] = []
    heard = [0.0]

    def on_progress(done_s: float, total_s: float) -> None:
        heard[0] = done_s
        if progress:
            progress("speech", done_s, total_s or None)

    utterances = tuple(
        speech.analyze_file(source, progress=on_progress, on_note=notes.append, max_seconds=analyzers.settings.max_media_seconds)
    )
    return Analysis(
        source=name,
        kind="audio",
        duration_s=stated_duration_of("audio", source),
        utterances=utterances,
        notes=tuple(notes),
        speech_status=SpeechStatus.SPEECH if utterances else SpeechStatus.NO_SPEECH,
        speech_heard_s=heard[0],
    )


def _video(
    source: Source,
    name: str,
    analyzers: Analyzers,
    sample_fps: float,
    weights: dict[str, float] | None,
    annotate: bool,
    progress: ProgressFn | None,
) -> Analysis:
    duration = stated_duration_of("video", source)

    def on_progress(stage: str, done_s: float) -> None:
        progress(stage, done_s, duration)

    result = analyzers.video.analyze(
        source,
        sample_fps=sample_fps,
        progress=on_progress if progress else None,
        weights=weights,
        annotate=annotate,
        max_seconds=analyzers.settings.max_media_seconds,
    )
    return Analysis(
        source=name,
        kind="video",
        duration_s=duration,
        faces=tuple((t, tuple(faces)) for t, faces in result.faces),
        utterances=tuple(result.utterances),
        fused=tuple(result.fused),
        notes=tuple(result.notes),
        speech_status=result.speech_status,
        speech_heard_s=result.speech_heard_s,
        annotated=result.annotated_video,
        dropped_tracks=result.dropped_tracks,
    )


def text_lines(f: IO[str], max_chars: int) -> Iterator[tuple[int, str, bool]]:
    """(line number from 1, its text cut to ``max_chars`` characters and stripped, whether it was
    cut) of each line of a text stream, read a bounded piece at a time (a 1 GB line is never
    held whole)."""
    line_no = 0
    while True:
        piece = f.readline(max_chars + 1)
        if not piece:
            return
        line_no += 1
        cut = False
        if not piece.endswith("\n") and len(piece) > max_chars:  # the rest of an overlong line: skip it
            cut = True
            while True:
                rest = f.readline(1 << 20)
                if not rest or rest.endswith("\n"):
                    break
        yield line_no, piece[:max_chars].strip(), cut


def _text(source: Source, name: str, analyzers: Analyzers) -> Analysis:
    from .speech.analyzer import Utterance

    max_bytes = analyzers.settings.max_text_file_bytes
    size = source.stat().st_size if isinstance(source, Path) else len(source)
    if size > max_bytes:
        raise InputError(
            f"{name} is {size:,} bytes, more than the limit of {max_bytes:,} bytes for a text file (EMOTION_MAX_TEXT_FILE_BYTES)"
        )
    classifier = analyzers.text
    utterances, cut_lines = [], []
    stream = (
        open(source, encoding="utf-8", errors="strict", newline=None)  # noqa: SIM115 - closed below
        if isinstance(source, Path)
        else io.TextIOWrapper(io.BytesIO(source), encoding="utf-8", errors="strict", newline=None)
    )
    try:
        with stream:
            for line_no, line, cut in text_lines(stream, classifier.max_chars):
                if cut:
                    cut_lines.append(line_no)
                if line:  # the line number stands for the time; no audio, so no voice emotion
                    utterances.append(Utterance(line_no, line_no, line, classifier.predict(line, typed=True), None))
    except UnicodeDecodeError:
        raise InputError(f"{name} is not UTF-8 text") from None
    notes = []
    if cut_lines:
        shown = ", ".join(map(str, cut_lines[:5])) + (" ..." if len(cut_lines) > 5 else "")
        notes.append(
            f"{len(cut_lines)} line(s) longer than {classifier.max_chars} characters (line {shown}): the words model read "
            "the first part only (EMOTION_MAX_TEXT_CHARS)"
        )
    return Analysis(source=name, kind="text", utterances=tuple(utterances), notes=tuple(notes))


__all__ = [
    "EXTENSIONS",
    "Analysis",
    "Analyzers",
    "ProgressFn",
    "Source",
    "analyze",
    "default_analyzers",
    "resolve_kind",
    "stated_duration_of",
    "text_lines",
]
