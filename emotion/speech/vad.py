"""Voice-activity detection: cut a continuous 16 kHz stream into utterances.

The detector is Silero VAD v6 (Silero Team, MIT) as shipped and wrapped by faster-whisper
(``faster_whisper.vad.get_speech_timestamps`` over ``assets/silero_vad_v6.onnx``); this
module only decides when an utterance is finished in a stream that keeps growing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from faster_whisper.vad import VadOptions, get_speech_timestamps

from .audio import SAMPLE_RATE


@dataclass(frozen=True)
class SpeechSegment:
    """One utterance cut from a stream.

    Attributes:
        start_s, end_s: times in seconds from the start of the stream.
        samples: mono float32 [n] at 16 kHz, the audio between ``start_s`` and ``end_s``.
    """

    start_s: float
    end_s: float
    samples: np.ndarray

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


class UtteranceSegmenter:
    """Incremental utterance segmentation of a mono 16 kHz stream with Silero VAD.

    Feed audio with :meth:`push` in any chunk size; it returns the utterances that are
    finished (followed by at least ``min_silence_ms`` of silence, or cut at
    ``max_utterance_s``). Call :meth:`flush` at the end of the stream for the last one.

    Args:
        threshold: Silero speech probability above which a 32 ms window is speech.
        min_silence_ms: silence that ends an utterance.
        min_speech_ms: shorter speech bursts are ignored (clicks, coughs).
        speech_pad_ms: padding kept on each side of an utterance (must be < min_silence_ms).
        max_utterance_s: longer speech is split (at a pause when there is one).
        step_s: VAD runs again after at least this much new audio.

    Memory is bounded: audio before the last finished utterance is dropped, and leading
    silence is trimmed to one second. Not thread-safe: one segmenter per stream.
    """

    def __init__(
        self,
        threshold: float = 0.5,
        min_silence_ms: int = 500,
        min_speech_ms: int = 250,
        speech_pad_ms: int = 200,
        max_utterance_s: float = 15.0,
        step_s: float = 0.25,
    ):
        if speech_pad_ms >= min_silence_ms:
            raise ValueError("speech_pad_ms must be smaller than min_silence_ms")
        self.options = VadOptions(
            threshold=threshold,
            min_silence_duration_ms=min_silence_ms,
            min_speech_duration_ms=min_speech_ms,
            speech_pad_ms=speech_pad_ms,
            max_speech_duration_s=max_utterance_s,
        )
        self.step = int(step_s * SAMPLE_RATE)
        self._keep_silence = SAMPLE_RATE  # samples of leading silence kept as VAD context
        self._buffer = np.zeros(0, np.float32)
        self._offset = 0  # stream index of _buffer[0]
        self._since_vad = 0

    @property
    def stream_seconds(self) -> float:
        """Seconds of audio pushed so far."""
        return (self._offset + len(self._buffer)) / SAMPLE_RATE

    def push(self, samples: np.ndarray) -> list[SpeechSegment]:
        """Append mono float32 16 kHz samples; return the utterances finished so far."""
        x = np.asarray(samples, dtype=np.float32).reshape(-1)
        if len(x) == 0:
            return []
        self._buffer = np.concatenate([self._buffer, x])
        self._since_vad += len(x)
        if self._since_vad < self.step:
            return []
        self._since_vad = 0
        return self._segment(final=False)

    def flush(self) -> list[SpeechSegment]:
        """End of stream: every remaining utterance, including one still being spoken."""
        out = self._segment(final=True) if len(self._buffer) else []
        self._offset += len(self._buffer)
        self._buffer = np.zeros(0, np.float32)
        return out

    def _segment(self, final: bool) -> list[SpeechSegment]:
        stamps = get_speech_timestamps(self._buffer, self.options, sampling_rate=SAMPLE_RATE)
        n = len(self._buffer)
        # an utterance still open at the end of the buffer ends exactly at n (speech went on)
        done = stamps if final else [s for s in stamps if s["end"] < n]
        out = [
            SpeechSegment(
                (self._offset + s["start"]) / SAMPLE_RATE,
                (self._offset + s["end"]) / SAMPLE_RATE,
                self._buffer[s["start"] : s["end"]].copy(),
            )
            for s in done
        ]
        if done:
            cut = done[-1]["end"]
        elif not stamps:
            cut = max(0, n - self._keep_silence)  # only silence: keep a second of context
        else:
            cut = max(0, stamps[0]["start"] - self._keep_silence)
        if cut:
            self._buffer = self._buffer[cut:]
            self._offset += cut
        return out
