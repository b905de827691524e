"""Media files and media time.

**Opening a file safely.** :func:`open_media` hands FFmpeg (through PyAV) only the bytes of the
upload or of the named file, read by Python, never a path or URL for FFmpeg to interpret
(``concat:``, ``http://``, ``pipe:``), and lets FFmpeg's probe choose among an allow-list of
demuxers only (FFmpeg's own ``format_whitelist``; :data:`CONTAINERS`). Playlists (HLS/m3u8),
concat/ffconcat lists, SDP descriptions, image sequences and every other demuxer that could
read another file or open a socket are refused before they read anything. The stream that is
decoded must use a codec of :data:`AUDIO_CODECS` or :data:`VIDEO_CODECS`
(:func:`media_stream`).

**Media time.** Every face sample and every audio sample carries seconds on its media's own
timeline, taken from the container's or the packets' timestamps, never from a count that
starts at 0 or from when a callback ran:

- files: ``frame.time`` (pts × time base) minus the container's start time
  (:func:`media_origin`), one clock for all the streams of a file: audio that starts 3 s after
  the video is at 3 s, a gap stays a gap, variable frame rates keep their true times;
- live (WebRTC): each stream's frames are placed by their RTP-derived timestamps relative to the
  stream's first frame, which is anchored at its arrival (:class:`emotion.live.clock.PacketClock`); video and audio
  are put on one session clock by those anchors (:mod:`emotion.live`). A lost packet leaves a
  gap in the timestamps and so does not shift what follows.

**Rotation.** Phone videos are stored sideways with a display matrix saying how to turn them;
:func:`display_rotation` reads it from each decoded frame and :func:`upright` turns the image.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import av
import cv2
import numpy as np

from .config import Settings
from .errors import InputError

log = logging.getLogger(__name__)

MediaSource = str | Path | bytes | BinaryIO
"""A path, the bytes of an upload, or an open binary file."""

CONTAINERS: dict[str, str] = {
    "wav": "WAV",
    "mp3": "MP3",
    "flac": "FLAC",
    "ogg": "Ogg",
    "mov": "MP4 / MOV / M4A",
    "mp4": "MP4 / MOV / M4A",
    "m4a": "MP4 / MOV / M4A",
    "matroska": "Matroska / WebM",
    "webm": "Matroska / WebM",
    "avi": "AVI",
}
"""FFmpeg demuxers (by name) that may read uploads, with what they read: the containers of the
extensions the pages list (wav, mp3, m4a, ogg, flac, webm; mp4, mov, webm, avi, mkv)."""

AUDIO_CODECS = frozenset(
    {
        "aac", "aac_fixed", "mp3", "mp3float", "mp2", "mp2float", "flac", "vorbis", "opus", "alac", "ac3", "eac3",
        "pcm_u8", "pcm_s8", "pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s24be", "pcm_s32le", "pcm_s32be",
        "pcm_f32le", "pcm_f32be", "pcm_f64le", "pcm_f64be", "pcm_mulaw", "pcm_alaw", "adpcm_ima_wav", "adpcm_ms",
    }
)  # fmt: skip
"""Audio decoders (FFmpeg names) the app runs."""

VIDEO_CODECS = frozenset(
    {
        "h264", "hevc", "vp8", "vp9", "av1", "libdav1d", "mpeg4", "mpeg1video", "mpeg2video", "mjpeg", "h263",
        "msmpeg4v2", "msmpeg4", "prores",
    }
)  # fmt: skip
"""Video decoders (FFmpeg names) the app runs."""

AUDIO_RATES = (1_000, 768_000)
"""Lowest and highest audio sample rates (Hz) accepted: a header claiming 1 Hz would make three
seconds of samples last 13 hours."""

ARCHIVE_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"PK\x03\x04", "a zip archive"),
    (0, b"PK\x05\x06", "a zip archive"),
    (0, b"PK\x07\x08", "a zip archive"),
    (0, b"\x1f\x8b", "a gzip archive"),
    (0, b"BZh", "a bzip2 archive"),
    (0, b"\xfd7zXZ\x00", "an xz archive"),
    (0, b"(\xb5/\xfd", "a zstd archive"),
    (0, b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (0, b"Rar!\x1a\x07", "a RAR archive"),
    (257, b"ustar", "a tar archive"),
)
"""(offset, magic bytes, what) of archives: refused before FFmpeg sees them. FFmpeg's mp3 and
raw-audio probes find frames inside an uncompressed archive, so a zip holding an mp3 would
otherwise be decoded."""

_FORMAT_WHITELIST = ",".join(CONTAINERS)
_KINDS = {"audio": AUDIO_CODECS, "video": VIDEO_CODECS}
_ACCEPTED = ", ".join(dict.fromkeys(CONTAINERS.values()))


class _Nameless:
    """A binary file seen through read/seek/tell only: FFmpeg gets no file name, so it probes the
    content alone (a name ending in .mp3 would make its mp3 demuxer take a zip file)."""

    def __init__(self, f: BinaryIO):
        self._f = f

    def read(self, n: int = -1) -> bytes:
        return self._f.read(n)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._f.seek(offset, whence)

    def tell(self) -> int:
        return self._f.tell()


MAX_FRAME_PIXELS = Settings.model_fields["max_frame_pixels"].default
"""Default largest video frame (pixels) FFmpeg may decode, probing included: the default of
``Settings.max_frame_pixels`` (``EMOTION_MAX_FRAME_PIXELS``)."""


@contextlib.contextmanager
def open_media(source: MediaSource, max_pixels: int = MAX_FRAME_PIXELS) -> Iterator[av.container.InputContainer]:
    """Open a media file for reading (a context manager yielding PyAV's container).

    Only the file's own bytes reach FFmpeg (a path is opened by Python, so no FFmpeg protocol
    or URL is ever interpreted, and FFmpeg is not told the file's name: the format is probed from
    the content, as for an upload), and only the demuxers of :data:`CONTAINERS` may read them.
    Archives are refused from their first bytes (:data:`ARCHIVE_SIGNATURES`). No frame larger
    than about ``max_pixels`` (width × height) is decoded, not even by the probe that reads the
    streams' parameters (FFmpeg's ``max_pixels``, set to twice the limit for the decoders'
    padding: a 16000×16000 frame would take ~1 GB).

    Raises:
        InputError: no such file, empty, a format that is not accepted (a playlist, a concat
            list, an SDP file, an archive, an image...), or not a media file FFmpeg can read.
    """
    with contextlib.ExitStack() as stack:
        if isinstance(source, bytes):
            if not source:
                raise InputError("the file is empty (0 bytes)")
            fileobj: BinaryIO = io.BytesIO(source)
        elif isinstance(source, (str, Path)):
            path = Path(source)
            if not path.is_file():
                raise InputError(f"no such file: {path}")
            if path.stat().st_size == 0:
                raise InputError(f"the file is empty (0 bytes): {path.name}")
            fileobj = _Nameless(stack.enter_context(open(path, "rb")))
        else:
            fileobj = _Nameless(source)
        archive = _archive_kind(fileobj)
        if archive:
            raise InputError(
                f"not an audio or video file this app reads: it is {archive} (archives are refused; upload the file itself)"
            )
        try:
            container = av.open(
                fileobj, mode="r", options={"format_whitelist": _FORMAT_WHITELIST, "max_pixels": _ffmpeg_max_pixels(max_pixels)}
            )
        except (av.error.FFmpegError, ValueError, OSError) as exc:
            log.info("media refused or unreadable: %s", exc)
            raise InputError(
                f"not an audio or video file this app reads (accepted: {_ACCEPTED}); "
                "playlists, concat lists and other formats are refused"
            ) from None
        stack.enter_context(container)
        names = set(container.format.name.split(","))
        if not names & set(CONTAINERS):  # FFmpeg enforces the list; this is the second lock
            raise InputError(f"the {container.format.name} format is not accepted (accepted: {_ACCEPTED})")
        yield container


def _ffmpeg_max_pixels(max_pixels: int) -> str:
    """FFmpeg's ``max_pixels`` for a limit of ``max_pixels``: twice it, since decoders check their
    buffers' aligned and padded sizes (a 160×160 H.264 frame needs more than 25,600); the exact
    limit is checked on the declared and the decoded sizes."""
    return str(2 * int(max_pixels))


def _archive_kind(fileobj) -> str | None:
    """What archive the file's first bytes say it is (:data:`ARCHIVE_SIGNATURES`), or None; the
    file position is put back."""
    pos = fileobj.tell()
    try:
        head = fileobj.read(262)
    finally:
        fileobj.seek(pos)
    for offset, magic, what in ARCHIVE_SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return what
    return None


def media_stream(container: av.container.InputContainer, kind: str, max_pixels: int | None = None) -> av.stream.Stream:
    """The first ``kind`` (``"audio"`` or ``"video"``) stream of ``container``.

    ``max_pixels`` (video): the largest frame (width × height, pixels) accepted. The stream's
    declared size is checked here, before anything is decoded, and the decoder is told twice the
    limit (FFmpeg's ``max_pixels`` codec option, which counts padded buffers), so a frame that
    grows far past it later is not decoded (:class:`PacketReader` counts it as a packet that
    could not be decoded); :meth:`emotion.video.VideoEmotionAnalyzer.analyze` skips any decoded
    frame over the exact limit.

    Raises:
        InputError: there is none, its header is not valid (no decoder for it), its codec is
            not one the app decodes, (audio) its sample rate is outside :data:`AUDIO_RATES`,
            or (video) its frames are larger than ``max_pixels``.
    """
    streams = container.streams.audio if kind == "audio" else container.streams.video
    if not streams:
        raise InputError(f"the file has no {kind} track")
    stream = streams[0]
    if stream.codec_context is None:  # e.g. a WAV header with 0 bits per sample
        raise InputError(f"the {kind} track's header is not valid (no decoder can read it)")
    codec = stream.codec_context.name
    if codec not in _KINDS[kind]:
        raise InputError(f"the {kind} codec {codec} is not one this app decodes")
    rate = stream.codec_context.sample_rate if kind == "audio" else None
    if rate is not None and not AUDIO_RATES[0] <= rate <= AUDIO_RATES[1]:
        raise InputError(f"the audio's sample rate ({rate} Hz) is not one of a recording ({AUDIO_RATES[0]}-{AUDIO_RATES[1]} Hz)")
    if kind == "video" and max_pixels is not None:
        w, h = stream.codec_context.width or 0, stream.codec_context.height or 0
        if not (w and h):  # the probe could not decode a frame within the limit (MJPEG says its size only in its frames)
            raise InputError(
                f"the video's frame size could not be read: its frames are larger than the limit of {max_pixels:,} "
                "pixels per frame, or damaged"
            )
        if w * h > max_pixels:
            raise InputError(f"the video's frames are {w}x{h} pixels, more than the limit of {max_pixels:,} pixels per frame")
        stream.codec_context.options = {**stream.codec_context.options, "max_pixels": _ffmpeg_max_pixels(max_pixels)}
    return stream


def stated_duration(container: av.container.InputContainer, stream: av.stream.Stream) -> float | None:
    """Duration in seconds that the container states for ``stream`` (or for the whole file), or
    None when it does not say."""
    if stream.duration is not None and stream.time_base:
        return float(stream.duration * stream.time_base)
    return container.duration / 1_000_000 if container.duration else None


def check_duration(container: av.container.InputContainer, stream: av.stream.Stream, max_seconds: float | None) -> None:
    """Refuse a file whose stated duration is over ``max_seconds`` (None: no limit). A file that
    states none, or states less than it holds, is stopped at the limit while decoding.

    Raises:
        InputError: the stated duration is over ``max_seconds``.
    """
    if max_seconds is None:
        return
    stated = stated_duration(container, stream)
    if stated is not None and stated > max_seconds:
        raise InputError(
            f"the file lasts {_hms(stated)}, longer than the limit of {_hms(max_seconds)} (EMOTION_MAX_MEDIA_SECONDS)"
        )


def over_duration_note(max_seconds: float) -> str:
    """The note of a file analysed up to the duration limit only."""
    return f"only the first {_hms(max_seconds)} were analysed: the limit per file (EMOTION_MAX_MEDIA_SECONDS)"


def _hms(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min {s:02d} s" if m else f"{s} s"


_SAMPLE_SCALE = {"s16": 32768.0, "s32": 2.0**31, "s64": 2.0**63, "flt": 1.0, "dbl": 1.0}
"""Full scale of each signed sample format (packed name); u8 is offset by 128 instead."""


def downmix_unnamed_layout(frame: av.AudioFrame) -> av.AudioFrame:
    """``frame`` itself when its channel layout is one FFmpeg names (mono, stereo, 5.1, 7.1...);
    otherwise (a WAV with 9, 17 or 63 channels has a layout of "N channels", in no known order,
    which libswresample cannot remix) the mean of its channels as a mono float32 frame at the
    same rate and timestamp. Values are scaled to [-1, 1] from the sample format."""
    name = frame.layout.name
    if not name.endswith(" channels"):
        return frame
    fmt = frame.format.name.rstrip("p")
    x = frame.to_ndarray()
    channels = frame.layout.nb_channels
    if not frame.format.is_planar:
        x = x.reshape(-1, channels).T
    if fmt == "u8":
        x = (x.astype(np.float32) - 128.0) / 128.0
    else:
        x = x.astype(np.float32) / np.float32(_SAMPLE_SCALE.get(fmt, 1.0))
    mono = np.ascontiguousarray(x.mean(axis=0, dtype=np.float32)[None, :])
    out = av.AudioFrame.from_ndarray(mono, format="flt", layout="mono")
    out.sample_rate = frame.sample_rate
    out.pts, out.time_base = frame.pts, frame.time_base
    return out


def media_origin(container: av.container.InputContainer) -> float:
    """Seconds on the container's timeline that media time 0 stands for: the earliest start of
    its streams (FFmpeg's ``start_time``), or 0 when the container does not say."""
    start = container.start_time
    return start / 1_000_000 if start is not None else 0.0


def frame_seconds(frame: av.frame.Frame, origin: float) -> float | None:
    """Media time (s) of a decoded frame of a file: its timestamp minus ``origin``
    (:func:`media_origin`); None when the frame has no timestamp."""
    return None if frame.time is None else float(frame.time) - origin


def packet_seconds(packet: av.Packet, origin: float) -> float | None:
    """Media time (s) of a packet of a file (its pts minus ``origin``), or None without a pts."""
    if packet.pts is None or not packet.time_base:
        return None
    return float(packet.pts * packet.time_base) - origin


class PacketReader:
    """The packets of ``streams`` of ``container``, in file order, and their decoding.

    A container that cannot be read any further ends the iteration instead of raising:
    :attr:`error` then holds the exception, and :attr:`read_to_end` is False (True when the
    iteration ended at the end of the file). A packet that cannot be decoded
    (:meth:`decode`) is skipped and counted in :attr:`bad`, with the media time of the first in
    :attr:`first_bad_s` (``origin``: :func:`media_origin`).
    """

    def __init__(self, container: av.container.InputContainer, *streams: av.stream.Stream, origin: float = 0.0):
        self._packets = container.demux(*streams)
        self.origin = origin
        self.error: Exception | None = None
        self.read_to_end = False
        self.bad = 0
        self.first_bad_s: float | None = None

    def decode(self, packet: av.Packet) -> list[av.frame.Frame]:
        """The frames of ``packet``; none when it cannot be decoded (counted)."""
        try:
            return packet.decode()
        except (av.error.FFmpegError, ValueError):
            self.bad += 1
            if self.first_bad_s is None:
                self.first_bad_s = packet_seconds(packet, self.origin)
            return []

    def bad_note(self, what: str) -> str | None:
        """``"<n> <what> could not be decoded, the first at <t> s"`` when packets could not be
        decoded, else None."""
        if not self.bad:
            return None
        where = f", the first at {self.first_bad_s:.1f} s" if self.first_bad_s is not None else ""
        return f"{self.bad} {what} could not be decoded{where}"

    def __iter__(self) -> Iterator[av.Packet]:
        while True:
            try:
                packet = next(self._packets)
            except StopIteration:
                self.read_to_end = True
                return
            except (av.error.FFmpegError, ValueError) as exc:
                self.error = exc
                return
            yield packet


def display_rotation(frame: av.VideoFrame) -> int:
    """Degrees (0, 90, 180 or 270) to turn ``frame`` clockwise so that it is shown upright, from its
    display matrix (phone videos); 0 when it has none. FFmpeg's ``av_display_rotation_get`` gives
    the counter-clockwise angle of the matrix; players turn by its negative (as ``ffmpeg``'s
    autorotate does), rounded to a quarter turn."""
    try:
        angle = frame.rotation
    except (AttributeError, ValueError):
        return 0
    return int(round(-float(angle or 0) / 90.0)) % 4 * 90


_ROTATIONS = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


def upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """``image`` [H, W, ...] turned ``rotation`` degrees clockwise (0, 90, 180 or 270); unchanged for 0."""
    return image if rotation % 360 == 0 else cv2.rotate(image, _ROTATIONS[rotation % 360])
