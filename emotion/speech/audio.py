"""Audio decoding and resampling with PyAV (FFmpeg): any container/codec/layout/rate in,
mono float32 at 16 kHz out (the rate Whisper, Silero VAD and the acoustic model use).

Long files are decoded as a stream of chunks (:func:`iter_audio_chunks`), so memory stays
bounded whatever the duration.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np

from ..errors import InputError

SAMPLE_RATE = 16_000
"""Sample rate (Hz) of every waveform inside the library."""

AUDIO_EXTENSIONS = ("wav", "mp3", "m4a", "ogg", "flac", "webm")

AudioSource = str | Path | bytes | BinaryIO


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


def open_media(source: AudioSource) -> av.container.InputContainer:
    """Open a media file (path or bytes) with PyAV for reading.

    Raises:
        InputError: no such file, empty, or not a media file FFmpeg can read.
    """
    if isinstance(source, bytes):
        if not source:
            raise InputError("the file is empty (0 bytes)")
        source = io.BytesIO(source)
    elif isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise InputError(f"no such file: {path}")
        if path.stat().st_size == 0:
            raise InputError(f"the file is empty (0 bytes): {path.name}")
        source = str(path)
    try:
        return av.open(source, mode="r")
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise InputError(f"not an audio or video file this app can read ({exc})") from None


def _audio_stream(container: av.container.InputContainer) -> av.audio.stream.AudioStream:
    if not container.streams.audio:
        raise InputError("the file has no audio track")
    return container.streams.audio[0]


def probe_audio(source: AudioSource) -> AudioInfo:
    """Duration, rate, channels and codec of the first audio stream, without decoding.

    Raises:
        InputError: not a media file, or no audio track.
    """
    with open_media(source) as container:
        stream = _audio_stream(container)
        duration = None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000
        ctx = stream.codec_context
        return AudioInfo(duration, int(ctx.sample_rate or 0), int(ctx.channels or 0), ctx.name)


def iter_audio_chunks(source: AudioSource, chunk_s: float = 30.0, sample_rate: int = SAMPLE_RATE) -> Iterator[np.ndarray]:
    """Decode the first audio stream as consecutive mono float32 chunks at ``sample_rate`` Hz.

    Each chunk holds ``chunk_s`` seconds (the last one may be shorter); channels are
    downmixed and the rate converted by FFmpeg's resampler (libswresample, via
    ``av.AudioResampler``). Values are in [-1, 1].

    Raises:
        InputError: not a media file, no audio track, or corrupt before any audio decoded.
    """
    chunk_len = max(1, int(round(chunk_s * sample_rate)))
    with open_media(source) as container:
        stream = _audio_stream(container)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        pending: list[np.ndarray] = []
        pending_len = 0
        decoded_any = False

        def frames() -> Iterator[av.AudioFrame]:
            nonlocal decoded_any
            try:
                for frame in container.decode(stream):
                    decoded_any = True
                    yield from resampler.resample(frame)
            except (av.error.FFmpegError, ValueError) as exc:
                if not decoded_any:
                    raise InputError(f"the audio could not be decoded: corrupt or unsupported ({exc})") from None
                # truncated file: keep what decoded so far
            yield from resampler.resample(None)

        for frame in frames():
            samples = frame.to_ndarray().reshape(-1).astype(np.float32, copy=False)
            pending.append(samples)
            pending_len += len(samples)
            while pending_len >= chunk_len:
                buf = np.concatenate(pending)
                yield buf[:chunk_len]
                rest = buf[chunk_len:]
                pending, pending_len = ([rest] if len(rest) else []), len(rest)
        if pending_len:
            yield np.concatenate(pending)


def load_audio(source: AudioSource, sample_rate: int = SAMPLE_RATE, max_seconds: float | None = None) -> np.ndarray:
    """The whole first audio stream as mono float32 [n] at ``sample_rate`` Hz.

    Raises:
        InputError: bad file (see :func:`iter_audio_chunks`), no audio decoded, or longer
            than ``max_seconds`` (use :func:`iter_audio_chunks` for long files).
    """
    chunks: list[np.ndarray] = []
    total = 0
    for chunk in iter_audio_chunks(source, chunk_s=30.0, sample_rate=sample_rate):
        chunks.append(chunk)
        total += len(chunk)
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
