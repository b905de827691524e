"""Decoding a video file: the stream's frame rate, every decoded frame (and the soundtrack's,
for the annotated copy) with notes for what could not be decoded, and the media time of each
frame with the frames sampled for analysis.

Frame times come from the frames' timestamps (variable frame rates included), on the file's own
timeline (:mod:`emotion.media`). Decoded by PyAV as a stream, in one pass: no list of frames is kept.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import av

from ..errors import InputError
from ..media import MediaSource, PacketReader, frame_seconds, media_stream, open_media, stated_duration

log = logging.getLogger(__name__)

DEFAULT_FPS = Fraction(25)
"""Frame rate (frames/s) assumed when the container states none that makes sense."""


def video_duration(source: MediaSource) -> float | None:
    """Duration in seconds that the container states, or None.

    Raises:
        InputError: not a video, or no video track.
    """
    with open_media(source) as container:
        return stated_duration(container, media_stream(container, "video"))


def frame_rate(stream: av.video.stream.VideoStream, max_fps: int = 240) -> Fraction:
    """The stream's frame rate (frames/s), at most ``max_fps`` (a faster stream is thinned to
    it); 25 when the container gives none that makes sense."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate and rate >= 1:
            return min(Fraction(rate).limit_denominator(1001), Fraction(max_fps))
    return min(DEFAULT_FPS, Fraction(max_fps))


def source_size(source: MediaSource) -> int | None:
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


class VideoDecoder:
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


class FrameClock:
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
