"""Audio decoding and resampling with PyAV (FFmpeg): any container/codec/layout/rate in,
mono float32 at 16 kHz out (the rate Whisper, Silero VAD and the acoustic model use).

Files are decoded as a stream of :class:`AudioBlock` objects that carry their media time
(:func:`iter_audio_blocks`, see :mod:`emotion.media`), so memory stays bounded whatever the
duration and every sample keeps its place on the file's timeline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import av
import numpy as np

from ..errors import InputError
from ..formats import AUDIO_EXTENSIONS  # noqa: F401 - re-exported: where callers found it
from ..media import (
    MediaSource,
    PacketReader,
    check_duration,
    downmix_unnamed_layout,
    frame_seconds,
    media_origin,
    media_stream,
    open_media,
    over_duration_note,
    stated_duration,
)

SAMPLE_RATE = 16_000
"""Sample rate (Hz) of every waveform inside the library."""


AudioSource = MediaSource


@dataclass(frozen=True)
class AudioInfo:
    """What the container says about its first audio stream.

    Attributes:
        duration_s: duration in seconds (None when the container does not say).
        sample_rate: original rate in Hz; channels: original channel count; codec: codec name.
    """

    duration_s: float | None
    sample_rate: int
    channels: int
    codec: str


def probe_audio(source: AudioSource) -> AudioInfo:
    """Duration, rate, channels and codec of the first audio stream, without decoding.

    Raises:
        InputError: not an accepted media file, no audio track, or a codec the app does not decode.
    """
    with open_media(source) as container:
        stream = media_stream(container, "audio")
        ctx = stream.codec_context
        return AudioInfo(stated_duration(container, stream), int(ctx.sample_rate or 0), int(ctx.channels or 0), ctx.name)


@dataclass(frozen=True)
class AudioBlock:
    """Contiguous audio on a media timeline.

    Attributes:
        start_s: media time (s) of ``samples[0]`` (see :mod:`emotion.media`).
        samples: mono float32 [n] at ``sample_rate`` Hz, values in [-1, 1].
        sample_rate: Hz (:data:`SAMPLE_RATE` unless asked otherwise).
    """

    start_s: float
    samples: np.ndarray
    sample_rate: int = SAMPLE_RATE

    @property
    def end_s(self) -> float:
        """Media time (s) just after the last sample."""
        return self.start_s + len(self.samples) / self.sample_rate


class TimedResampler:
    """Decoded audio frames (any format, layout and rate) with their media times -> mono float32
    :class:`AudioBlock` objects at ``sample_rate`` Hz (16 kHz by default), by FFmpeg's resampler (libswresample, through
    ``av.AudioResampler``).

    Time follows the frames' timestamps: a frame that starts more than ``tolerance_s`` after the
    audio before it ended leaves a gap. A gap of up to ``fill_gaps_s`` (a lost packet, a jittery
    muxer) is filled with silence so the utterance around it stays whole; a longer gap is kept as
    a gap (the next block starts later than the previous one ends; nothing is invented across
    it). Frames whose timestamps overlap the audio before them are kept, in order. Frames without
    a timestamp continue the audio before them. A change of input format starts a new resampler.

    Args:
        fill_gaps_s: longest gap (s) filled with silence.
        tolerance_s: timestamp jitter (s) that is not a gap.
    """

    def __init__(self, fill_gaps_s: float = 0.5, tolerance_s: float = 0.01, sample_rate: int = SAMPLE_RATE):
        self.sample_rate = int(sample_rate)
        self.fill_gaps_s = float(fill_gaps_s)
        self.tolerance_s = float(tolerance_s)
        self._resampler: av.AudioResampler | None = None
        self._format: tuple | None = None
        self._run_start_s = 0.0  # media time of the current run's first output sample
        self._out = 0  # output samples of the current run so far
        self._in_end_s: float | None = None  # media time at which the input so far ends

    def push(self, frame: av.AudioFrame, start_s: float | None) -> list[AudioBlock]:
        """Resample ``frame`` (its first sample at media time ``start_s``; any channel count: a
        layout FFmpeg does not name is averaged to mono first, :func:`~emotion.media.downmix_unnamed_layout`);
        returns the blocks ready."""
        frame = downmix_unnamed_layout(frame)
        blocks: list[AudioBlock] = []
        if start_s is None:
            start_s = self._in_end_s or 0.0
        if self._in_end_s is None:
            self._run_start_s, self._in_end_s = start_s, start_s
        else:
            gap = start_s - self._in_end_s
            if gap > self.fill_gaps_s:
                blocks += self._drain()
                self._run_start_s, self._out, self._in_end_s = start_s, 0, start_s
            elif gap > self.tolerance_s:
                blocks += self._drain()
                blocks.append(self._block(np.zeros(round(gap * self.sample_rate), np.float32)))
                self._in_end_s = start_s
        fmt = (frame.format.name, frame.layout.name, frame.sample_rate)
        if self._resampler is not None and fmt != self._format:
            blocks += self._drain()
        if self._resampler is None:
            self._resampler = av.AudioResampler(format="flt", layout="mono", rate=self.sample_rate)
            self._format = fmt
        self._in_end_s += frame.samples / frame.sample_rate
        pts, frame.pts = frame.pts, None  # time is kept here: the resampler must not re-time the output
        try:
            blocks += [self._block(f.to_ndarray().reshape(-1)) for f in self._resampler.resample(frame)]
        finally:
            frame.pts = pts
        return [b for b in blocks if len(b.samples)]

    @property
    def end_s(self) -> float | None:
        """Media time (s) at which the input pushed so far ends (None before the first frame)."""
        return self._in_end_s

    def flush(self) -> list[AudioBlock]:
        """The samples still inside the resampler, at the end of the stream."""
        return [b for b in self._drain() if len(b.samples)]

    def _drain(self) -> list[AudioBlock]:
        if self._resampler is None:
            return []
        out = [self._block(f.to_ndarray().reshape(-1)) for f in self._resampler.resample(None)]
        self._resampler = None
        return out

    def _block(self, samples: np.ndarray) -> AudioBlock:
        block = AudioBlock(
            self._run_start_s + self._out / self.sample_rate, samples.astype(np.float32, copy=False), self.sample_rate
        )
        self._out += len(samples)
        return block


def iter_audio_blocks(
    source: AudioSource,
    chunk_s: float = 30.0,
    on_note: Callable[[str], None] | None = None,
    sample_rate: int = SAMPLE_RATE,
    max_seconds: float | None = None,
) -> Iterator[AudioBlock]:
    """Decode the first audio stream as :class:`AudioBlock` objects on the file's media timeline.

    Each block holds up to ``chunk_s`` seconds of contiguous mono float32 audio at
    ``sample_rate`` Hz; a gap in
    the file's audio longer than 0.5 s ends a block, and the next one starts after the gap (see
    :class:`TimedResampler`). Memory stays bounded whatever the duration. A packet that cannot
    be decoded is skipped (its moment is missing) and a container that cannot be read further
    ends the audio there; either way ``on_note(message)`` says so once, with the media time.

    ``max_seconds`` (``Settings.max_media_seconds``; None: no limit): a file that states a
    longer duration is refused; audio past that media time (a file that does not state its
    duration, or lies) is not decoded, and ``on_note`` says so.

    Raises:
        InputError: not an accepted media file, no audio track, a refused codec, longer than
            ``max_seconds``, or corrupt before any audio decoded.
    """
    chunk_len = max(1, int(round(chunk_s * sample_rate)))
    with open_media(source) as container:
        stream = media_stream(container, "audio")
        check_duration(container, stream, max_seconds)
        origin = media_origin(container)
        timed = TimedResampler(sample_rate=sample_rate)
        pending: list[np.ndarray] = []
        pending_start, pending_len = 0.0, 0
        reader = PacketReader(container, stream, origin=origin)
        decoded_any = False

        def frames() -> Iterator[tuple[av.AudioFrame, float | None]]:
            nonlocal decoded_any
            for packet in reader:
                for frame in reader.decode(packet):
                    decoded_any = True
                    t = frame_seconds(frame, origin)
                    if max_seconds is not None and (t if t is not None else (timed.end_s or 0.0)) >= max_seconds:
                        _note(on_note, over_duration_note(max_seconds))
                        return
                    yield frame, t
            if reader.error is not None:
                if not decoded_any:
                    raise InputError(f"the audio could not be decoded: corrupt or unsupported ({reader.error})")
                end = timed.end_s or 0.0
                _note(on_note, f"the file could not be read past {end:.1f} s ({reader.error}); the audio stops there")

        def blocks() -> Iterator[AudioBlock]:
            for frame, t in frames():
                yield from timed.push(frame, t)
            yield from timed.flush()

        for block in blocks():
            if pending_len and abs(block.start_s - (pending_start + pending_len / sample_rate)) > 1e-6:
                yield AudioBlock(pending_start, np.concatenate(pending), sample_rate)  # a gap: end the block here
                pending, pending_len = [], 0
            if not pending_len:
                pending_start = block.start_s
            pending.append(block.samples)
            pending_len += len(block.samples)
            while pending_len >= chunk_len:
                buf = np.concatenate(pending)
                yield AudioBlock(pending_start, buf[:chunk_len], sample_rate)
                rest = buf[chunk_len:]
                pending_start += chunk_len / sample_rate
                pending, pending_len = ([rest] if len(rest) else []), len(rest)
        if pending_len:
            yield AudioBlock(pending_start, np.concatenate(pending), sample_rate)
        stated = _stated_end(container, stream, origin)
        end = timed.end_s
        if reader.read_to_end and stated is not None and end is not None and end < stated - 1.0:
            _note(on_note, f"the audio ends at {end:.1f} s although the file says it lasts {stated:.1f} s (truncated?)")
        bad = reader.bad_note("audio packet(s)")
        if bad:
            _note(on_note, f"{bad}; those moments are missing")


def _stated_end(container: av.container.InputContainer, stream: av.stream.Stream, origin: float) -> float | None:
    """Media time (s) at which the container says ``stream`` ends, or None when it does not say."""
    if stream.duration is not None and stream.time_base:
        start = float((stream.start_time or 0) * stream.time_base)
        return start + float(stream.duration * stream.time_base) - origin
    if container.duration is not None and len(container.streams) == 1:
        return container.duration / 1_000_000
    return None


def _note(on_note: Callable[[str], None] | None, message: str) -> None:
    if on_note is not None:
        on_note(message)


def load_audio(source: AudioSource, sample_rate: int = SAMPLE_RATE, max_seconds: float | None = None) -> np.ndarray:
    """The whole first audio stream as mono float32 [n] at ``sample_rate`` Hz (a clip, for
    training and tests: gaps longer than 0.5 s are closed up; use :func:`iter_audio_blocks` for
    media times).

    Raises:
        InputError: bad file (see :func:`iter_audio_blocks`), no audio decoded, or longer
            than ``max_seconds``.
    """
    chunks: list[np.ndarray] = []
    total = 0
    for block in iter_audio_blocks(source, sample_rate=sample_rate):
        chunks.append(block.samples)
        total += len(block.samples)
        if max_seconds is not None and total > max_seconds * sample_rate:
            raise InputError(f"the audio is longer than {max_seconds:g} s")
    if not total:
        raise InputError("the file contains no audio samples")
    return np.concatenate(chunks)


def to_mono_16k(samples: np.ndarray, sample_rate: int, channels: int = 1) -> np.ndarray:
    """Interleaved int16 or float samples [n * channels] at ``sample_rate`` Hz -> mono float32 at 16 kHz.

    For raw buffers (e.g. WebRTC frames) that do not come through a container; uses
    soxr (high-quality resampling, the library librosa uses).
    """
    import soxr

    x = np.asarray(samples)
    if x.dtype == np.int16:
        x = x.astype(np.float32) / 32768.0
    else:
        x = x.astype(np.float32, copy=False)
    if channels > 1:
        x = x.reshape(-1, channels).mean(axis=1)
    if sample_rate != SAMPLE_RATE:
        x = soxr.resample(x, sample_rate, SAMPLE_RATE).astype(np.float32, copy=False)
    return x
