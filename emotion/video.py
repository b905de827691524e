"""Video files: faces on frames sampled at a chosen rate (tracked, with stable IDs), the
soundtrack's utterances (transcript, semantic and acoustic emotion), a fused estimate per
utterance, and optionally an annotated copy of the video (H.264 MP4, in memory).

Faces and utterances are on the file's own timeline (:mod:`emotion.media`): frame times come
from the frames' timestamps (variable frame rates included), audio that starts before or after
the video keeps its place, and videos with a rotation in their display matrix (phones) are
turned upright before analysis.

Decoded by PyAV as a stream, in one pass, so memory stays bounded for any length: no list of
frames is kept, and the annotated copy's size is bounded by its bitrate (see
:func:`annotated_bitrate`).
"""

from __future__ import annotations

import dataclasses
import io
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2

from .config import MAX_SAMPLE_FPS  # noqa: F401 - re-exported: where callers found it
from .errors import InputError
from .face.analyzer import FaceEmotionAnalyzer
from .face.draw import draw_faces
from .face.track import FaceTracker, TrackedFace
from .formats import VIDEO_EXTENSIONS  # noqa: F401 - re-exported: where callers found it
from .fusion import FaceSample, FusedEstimate, face_samples, fuse_utterance
from .media import (
    MediaSource,
    PacketReader,
    check_duration,
    display_rotation,
    downmix_unnamed_layout,
    frame_seconds,
    media_origin,
    media_stream,
    open_media,
    over_duration_note,
    stated_duration,
    upright,
)
from .schema import SpeechStatus
from .speech.analyzer import SpeechEmotionAnalyzer, Utterance
from .timeline import Timeline, face_row, fused_row, utterance_row

log = logging.getLogger(__name__)


MIN_TRACK_SCORE = 0.6
"""A tracked face counts in a video only when its mean detector score is at least this: lettering
on a title card, a pattern or a headlight can pass BlazeFace's per-frame threshold (0.5) once or
for a while, with a lower score than real faces (measured: README, detector section)."""
MIN_TRACK_HITS = 2
"""...and when it was found on at least this many sampled frames (a one-frame flash is dropped;
a video with a single sampled frame needs one)."""

ANNOTATED_MAX_SIDE = 640
"""Longest side (px) of the annotated video; smaller sources keep their size (rounded down to even)."""
ANNOTATED_MAX_BITRATE = 1_500_000
"""Highest video bitrate (bit/s) of the annotated video."""
ANNOTATED_MIN_BITRATE = 200_000
"""Lowest video bitrate (bit/s) of the annotated video, whatever the input's."""
ANNOTATED_AUDIO_BITRATE = 96_000
"""AAC bitrate (bit/s) of the annotated video's soundtrack."""

_AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)
_DEFAULT_FPS = Fraction(25)


def video_duration(source: MediaSource) -> float | None:
    """Duration in seconds that the container states, or None.

    Raises:
        InputError: not a video, or no video track.
    """
    with open_media(source) as container:
        return stated_duration(container, media_stream(container, "video"))


def annotated_size(width: int, height: int, max_side: int = ANNOTATED_MAX_SIDE) -> tuple[int, int]:
    """(width, height) in pixels of the annotated copy of a ``width`` x ``height`` video:
    scaled down (never up) so the longer side is at most ``max_side``, aspect kept, both even
    (H.264 in yuv420p needs even sides) and at least 2.

    Raises:
        ValueError: a size or ``max_side`` below 1.
    """
    if width < 1 or height < 1 or max_side < 2:
        raise ValueError(f"bad size {width}x{height} or max_side {max_side}")
    scale = min(1.0, max_side / max(width, height))
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def annotated_bitrate(input_bytes: int | None, duration_s: float | None, audio: bool = False) -> int:
    """Video bitrate (bit/s) of the annotated copy, chosen so it is not larger than about the input.

    ``min(ANNOTATED_MAX_BITRATE, input bits / duration − ANNOTATED_AUDIO_BITRATE if audio)``,
    and at least :data:`ANNOTATED_MIN_BITRATE`; :data:`ANNOTATED_MAX_BITRATE` when the size or
    the duration is unknown. The encoder treats it as a cap (x264 constant quality, CRF 23, with
    a VBV ``maxrate`` of this value and a 2 s buffer): simple content comes out smaller, and the
    output is at most about ``(bitrate + audio) × duration + 2 s × bitrate`` plus the container.
    So an upload within the 200 MB limit gives an annotated copy of about its size or less
    (larger only for inputs below the floor of 200 kbit/s).
    """
    if not input_bytes or not duration_s or duration_s <= 0:
        return ANNOTATED_MAX_BITRATE
    rate = input_bytes * 8 / duration_s - (ANNOTATED_AUDIO_BITRATE if audio else 0)
    return int(max(ANNOTATED_MIN_BITRATE, min(ANNOTATED_MAX_BITRATE, rate)))


def _frame_rate(stream: av.video.stream.VideoStream, max_fps: int = 240) -> Fraction:
    """The stream's frame rate (frames/s), at most ``max_fps`` (a faster stream is thinned to
    it); 25 when the container gives none that makes sense."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate and rate >= 1:
            return min(Fraction(rate).limit_denominator(1001), Fraction(max_fps))
    return min(_DEFAULT_FPS, Fraction(max_fps))


def _source_size(source: MediaSource) -> int | None:
    if isinstance(source, bytes):
        return len(source)
    if isinstance(source, (str, Path)):
        return Path(source).stat().st_size
    try:
        pos = source.tell()
        size = source.seek(0, io.SEEK_END)
        source.seek(pos)
        return size
    except (AttributeError, OSError, ValueError):
        return None


class _Decoder:
    """Every decoded frame of a video stream (and of an audio stream when given), in demuxing
    order, with notes for what could not be decoded.

    A video packet that cannot be decoded is skipped (counted, with the media time of the first);
    a container that cannot be read further ends the decoding there, with a note saying where.
    Either before any video frame decoded raises InputError. An audio error stops the audio only
    (``on_audio_error(message)``).
    """

    def __init__(
        self,
        container: av.container.InputContainer,
        video: av.video.stream.VideoStream,
        origin: float,
        audio: av.audio.stream.AudioStream | None = None,
        on_audio_error: Callable[[str], None] | None = None,
    ):
        self.container, self.video, self.audio, self.origin = container, video, audio, origin
        self.on_audio_error = on_audio_error
        self.notes: list[str] = []
        self.last_t = 0.0

    def __iter__(self) -> Iterator[av.VideoFrame | av.AudioFrame]:
        self.video.thread_type = "AUTO"
        streams = [self.video] if self.audio is None else [self.video, self.audio]
        decoded, audio_ok = False, self.audio is not None
        reader = PacketReader(self.container, *streams, origin=self.origin)
        for packet in reader:
            if packet.stream.index != self.video.index:
                if not audio_ok:
                    continue
                try:
                    frames = packet.decode()
                except (av.error.FFmpegError, ValueError) as exc:
                    audio_ok, frames = False, []
                    if self.on_audio_error:
                        self.on_audio_error(f"the soundtrack could not be decoded ({exc})")
                yield from frames
                continue
            for frame in reader.decode(packet):
                decoded = True
                yield frame
        if reader.error is not None:
            if not decoded:
                raise InputError(f"the video could not be decoded: corrupt or unsupported ({reader.error})")
            self.notes.append(f"the file could not be read past {self.last_t:.1f} s ({reader.error}); the results stop there")
        if reader.read_to_end:
            stated = stated_duration(self.container, self.video)
            if decoded and stated and self.last_t < stated - 1.0:
                self.notes.append(
                    f"the video ends at {self.last_t:.1f} s although the file says it lasts {stated:.1f} s (truncated?)"
                )
        if not decoded:
            raise InputError("the video could not be decoded: corrupt, truncated or unsupported (no frame decoded)")
        bad = reader.bad_note("video packet(s)")
        if bad:
            self.notes.append(f"{bad}; those frames are missing")


class _FrameClock:
    """Media time (s) of each video frame, and whether it is one of the ~``sample_fps``/s sampled."""

    def __init__(self, sample_fps: float, frame_rate: Fraction, origin: float):
        if not sample_fps > 0:
            raise ValueError(f"sample_fps must be positive, got {sample_fps}")
        self.step = 1.0 / sample_fps
        self.frame_rate = frame_rate
        self.origin = origin
        self.next_t = float("-inf")
        self.last_t: float | None = None

    def tick(self, frame: av.VideoFrame) -> tuple[float, bool]:
        t = frame_seconds(frame, self.origin)
        if t is None:  # no timestamp: one frame period after the previous frame
            t = 0.0 if self.last_t is None else self.last_t + float(1 / self.frame_rate)
        self.last_t = t
        if t + 1e-6 >= self.next_t:
            self.next_t = t + self.step
            return t, True
        return t, False


class _AnnotatedVideoWriter:
    """Encodes frames with faces drawn into an in-memory MP4 (H.264 yuv420p + AAC).

    The output is opened at the first video frame, whose display matrix says how to turn the
    frames upright (audio that comes before it waits); every frame is written upright.
    """

    def __init__(
        self,
        video: av.video.stream.VideoStream,
        audio: av.audio.stream.AudioStream | None,
        input_bytes: int | None,
        duration_s: float | None,
        max_side: int,
        origin: float = 0.0,
        max_fps: int = 60,
    ):
        self._source_size = video.codec_context.width, video.codec_context.height
        if not all(self._source_size):
            raise InputError("the video's frame size is unknown")
        self.max_side = max_side
        self.origin = origin
        self.rate = _frame_rate(video, max_fps)
        self.rotation = 0
        self.width, self.height = annotated_size(*self._source_size, max_side)
        self.notes: list[str] = []
        self._bitrate = annotated_bitrate(input_bytes, duration_s, audio=audio is not None)
        self._audio_in = audio if audio is not None and audio.codec_context.sample_rate else None
        self._early_audio: list[av.AudioFrame] = []
        self._out: av.container.OutputContainer | None = None
        self._buf = io.BytesIO()
        self._last_pts = -1
        self._audio: av.audio.stream.AudioStream | None = None
        self._audio_pts: int | None = None

    def _start(self, rotation: int) -> None:
        """Open the output for frames turned ``rotation`` degrees clockwise to be upright."""
        self.rotation = rotation
        w, h = self._source_size
        self.width, self.height = annotated_size(*((h, w) if rotation in (90, 270) else (w, h)), self.max_side)
        # faststart (the index before the data, so browsers play at once) re-reads the file at
        # the end; io_open hands FFmpeg a read-only copy of what was written: nothing on disk.
        self._out = av.open(
            self._buf,
            "w",
            format="mp4",
            container_options={"movflags": "+faststart"},
            io_open=lambda _url, _flags, _options: io.BytesIO(self._buf.getvalue()),
        )
        self._video = self._out.add_stream("libx264", rate=self.rate)
        self._video.width, self._video.height, self._video.pix_fmt = self.width, self.height, "yuv420p"
        self._video.codec_context.options = {
            "preset": "veryfast",
            "crf": "23",
            "maxrate": str(self._bitrate),
            "bufsize": str(2 * self._bitrate),
        }
        if self._audio_in is not None:
            in_rate = self._audio_in.codec_context.sample_rate
            self._audio_rate = in_rate if in_rate in _AAC_RATES else 48_000
            layout = "mono" if self._audio_in.codec_context.channels == 1 else "stereo"
            self._audio = self._out.add_stream("aac", rate=self._audio_rate, layout=layout)
            self._audio.codec_context.bit_rate = ANNOTATED_AUDIO_BITRATE
            self._resampler = av.AudioResampler(format="fltp", layout=layout, rate=self._audio_rate)
        early, self._early_audio = self._early_audio, []
        for frame in early:
            self.add_audio(frame)

    def add_video(self, frame: av.VideoFrame, t: float | None, faces: Sequence[TrackedFace]) -> None:
        """Write ``frame`` (shown at media time ``t`` s, or right after the previous one), turned
        upright, with ``faces`` (boxes in the upright frame's pixels) drawn. A frame that falls
        on the same output frame as the one before (a source faster than :attr:`rate`) is left
        out, so the copy keeps real time."""
        pts = round(t * self.rate) if t is not None else self._last_pts + 1
        if pts == self._last_pts and t is not None:
            return  # thinned: this output frame is already written
        pts = max(pts, self._last_pts + 1)  # timestamps that go back: keep the order
        if self._out is None:
            self._start(display_rotation(frame))
        if self.rotation:
            pre = (self.height, self.width) if self.rotation in (90, 270) else (self.width, self.height)
            image = upright(frame.reformat(*pre, format="bgr24").to_ndarray(), self.rotation)
            source_w, source_h = (frame.height, frame.width) if self.rotation in (90, 270) else (frame.width, frame.height)
            out = None
        else:
            out = frame.reformat(self.width, self.height, format="yuv420p")
            image, (source_w, source_h) = None, (frame.width, frame.height)
        if faces or image is not None:
            if image is None:
                image = cv2.cvtColor(out.to_ndarray(), cv2.COLOR_YUV2BGR_I420)
            sx, sy = self.width / source_w, self.height / source_h
            scaled = [
                dataclasses.replace(
                    f,
                    box=(
                        round(f.box[0] * sx),
                        round(f.box[1] * sy),
                        max(1, round(f.box[2] * sx)),
                        max(1, round(f.box[3] * sy)),
                    ),
                )
                for f in faces
            ]
            draw_faces(image, scaled, copy=False)
            out = av.VideoFrame.from_ndarray(cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420), format="yuv420p")
        self._last_pts = pts
        out.pts, out.time_base = pts, 1 / self.rate
        self._out.mux(self._video.encode(out))

    @property
    def has_audio(self) -> bool:
        """Whether the annotated copy (still) takes a soundtrack."""
        return self._audio is not None if self._out is not None else self._audio_in is not None

    def add_audio(self, frame: av.AudioFrame) -> None:
        """Write a decoded audio frame, resampled for AAC and laid end to end from the first
        frame's time (gaps in the source close up)."""
        if self._out is None:
            if self._audio_in is not None:
                self._early_audio.append(frame)  # the output opens at the first video frame
            return
        if self._audio is None:
            return
        try:
            if self._audio_pts is None:
                start = 0.0 if frame.time is None else float(frame.time) - self.origin
                self._audio_pts = max(0, round(start * self._audio_rate))
            frame = downmix_unnamed_layout(frame)
            frame.pts = None
            for f in self._resampler.resample(frame):
                self._encode_audio(f)
        except (av.error.FFmpegError, ValueError) as exc:
            self.audio_failed(f"the soundtrack could not be converted ({exc})")

    def _encode_audio(self, f: av.AudioFrame | None) -> None:
        if f is not None:
            f.pts, f.time_base = self._audio_pts, Fraction(1, self._audio_rate)
            self._audio_pts += f.samples
        self._out.mux(self._audio.encode(f))

    def audio_failed(self, message: str) -> None:
        """End the soundtrack here (what was written stays) and record ``message`` in :attr:`notes`."""
        if self._out is None and self._audio_in is not None:
            self._audio_in, self._early_audio = None, []
            self.notes.append(f"annotated video: {message}; it is silent")
        elif self._audio is not None:
            self.notes.append(f"annotated video: {message}; the rest is silent")
            self._end_audio()

    def _end_audio(self) -> None:
        if self._audio is None:
            return
        try:
            if self._audio_pts is not None:
                for f in self._resampler.resample(None):
                    self._encode_audio(f)
            self._encode_audio(None)
        except (av.error.FFmpegError, ValueError):
            pass  # keep what was written
        self._audio = None

    def close(self) -> bytes:
        """Flush the encoders and return the MP4 file's bytes.

        Raises:
            InputError: no video frame was written.
        """
        if self._out is None:
            raise InputError("no video frame was decoded")
        self._end_audio()
        self._out.mux(self._video.encode(None))
        self._out.close()
        return self._buf.getvalue()

    def abort(self) -> None:
        """Drop everything (after an error)."""
        try:
            if self._out is not None:
                self._out.close()
        except (av.error.FFmpegError, ValueError, OSError):
            pass
        self._buf = io.BytesIO()


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
        max_seconds: float | None = -1.0,
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
        if max_seconds is not None and max_seconds < 0:
            max_seconds = settings.max_media_seconds
        if annotate:
            annotated_size(2, 2, annotate_max_side)  # ValueError now rather than after decoding
        input_bytes = _source_size(source) if annotate else None
        result = VideoAnalysis()
        tracker = FaceTracker(smoothing_s=max(0.5, 1.0 / sample_fps))
        with open_media(source, max_pixels=settings.max_frame_pixels) as container:
            stream = media_stream(container, "video", max_pixels=settings.max_frame_pixels)
            check_duration(container, stream, max_seconds)
            has_audio = bool(container.streams.audio)
            origin = media_origin(container)
            clock = _FrameClock(sample_fps, _frame_rate(stream), origin)
            writer = None
            if annotate:
                try:
                    audio = media_stream(container, "audio") if container.streams.audio else None
                except InputError as exc:
                    audio = None
                    result.notes.append(f"annotated video: {exc}; it is silent")
                try:
                    writer = _AnnotatedVideoWriter(
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
            decoder = _Decoder(
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
            fused = fuse_utterance(u, samples, weights)
            if fused is not None:
                result.fused.append((u, fused))
        return result
