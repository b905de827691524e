"""Voice-activity detection: cut a continuous 16 kHz stream into utterances, looking at each
sample once.

The detector is Silero VAD v6 (Silero Team, MIT), the ONNX model shipped inside
faster-whisper (``faster_whisper/assets/silero_vad_v6.onnx``, loaded once by
``faster_whisper.vad.get_vad_model``). The model scores 32 ms windows (512 samples at 16 kHz,
each with the 64 samples before it as context) through an LSTM; :class:`SileroStream` carries
that LSTM state and the context from one call to the next, so a stream fed in any chunk sizes
gives the same speech probabilities as one pass over the whole recording, and each sample is
scored once (Silero's own streaming ``VADIterator`` works the same way).

:class:`UtteranceSegmenter` turns the probabilities into utterances with the rules of
faster-whisper's ``get_speech_timestamps`` (threshold and a lower release threshold, minimum
silence, minimum speech, padding, maximum length split at the last pause), applied
incrementally: an utterance is handed out as soon as the silence after it settles its end.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from faster_whisper.vad import get_vad_model

from .audio import SAMPLE_RATE

WINDOW = 512
"""Samples per Silero window at 16 kHz (32 ms)."""
CONTEXT = 64
"""Samples of the previous window the model sees before each window."""

GAP_TOLERANCE_S = 1e-3
"""A block that starts more than this after the end of the audio pushed so far starts a new
run: the gap between them is not audio (see :meth:`UtteranceSegmenter.push`)."""


@dataclass(frozen=True)
class SpeechSegment:
    """One utterance cut from a stream.

    Attributes:
        start_s, end_s: media times in seconds (the clock of the file or the live session).
        samples: mono float32 [n] at 16 kHz, the audio between ``start_s`` and ``end_s``.
    """

    start_s: float
    end_s: float
    samples: np.ndarray

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


class SileroStream:
    """Silero VAD speech probabilities of consecutive 512-sample windows, with the model's LSTM
    state (h, c: float32 [1, 1, 128]) and 64-sample context carried across calls.

    Not thread-safe (it holds the state of one stream); the ONNX session underneath is shared.
    """

    def __init__(self):
        self._session = get_vad_model().session
        self.samples_scanned = 0
        """Samples scored so far (each once)."""
        self.reset()

    def reset(self) -> None:
        """Forget the state: the next window starts a new recording."""
        self._h = np.zeros((1, 1, 128), np.float32)
        self._c = np.zeros((1, 1, 128), np.float32)
        self._context = np.zeros(CONTEXT, np.float32)

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        """Speech probabilities float32 [k] of float32 windows [k, 512] that follow the previous call's."""
        windows = np.asarray(windows, np.float32).reshape(-1, WINDOW)
        if not len(windows):
            return np.zeros(0, np.float32)
        context = np.concatenate([self._context[None], windows[:-1, -CONTEXT:]])
        batch = np.ascontiguousarray(np.concatenate([context, windows], axis=1))
        out, self._h, self._c = self._session.run(None, {"input": batch, "h": self._h, "c": self._c})
        self._context = windows[-1, -CONTEXT:].copy()
        self.samples_scanned += windows.size
        return np.asarray(out, np.float32).reshape(-1)


class UtteranceSegmenter:
    """Incremental utterance segmentation of a mono 16 kHz stream with Silero VAD.

    Feed audio with :meth:`push` in any chunk size; it returns the utterances that are
    finished. Call :meth:`flush` at the end of the stream for the last one.

    Args:
        threshold: Silero speech probability at or above which a 32 ms window is speech; speech
            ends below ``threshold - 0.15`` (faster-whisper's default release threshold).
        min_silence_ms: silence that ends an utterance.
        min_speech_ms: shorter speech bursts are ignored (clicks, coughs).
        speech_pad_ms: padding kept on each side of an utterance (must be < min_silence_ms);
            neighbours closer than twice this share the gap between them.
        max_utterance_s: longer speech is split (at a pause of at least 98 ms when there is one).

    Times are media times: each run of audio starts at the ``start_s`` given to :meth:`push`
    (0 by default) and goes on by sample count; a block that starts later than the end of the
    audio before it begins a new run after a gap (utterances never span a gap).

    Memory is bounded: only the audio an utterance may still need is kept (the open utterance,
    plus its padding). Not thread-safe: one segmenter per stream.
    """

    def __init__(
        self,
        threshold: float = 0.5,
        min_silence_ms: int = 500,
        min_speech_ms: int = 250,
        speech_pad_ms: int = 200,
        max_utterance_s: float = 15.0,
    ):
        if speech_pad_ms >= min_silence_ms:
            raise ValueError("speech_pad_ms must be smaller than min_silence_ms")
        self.threshold = float(threshold)
        self.neg_threshold = max(self.threshold - 0.15, 0.01)
        self.min_speech = SAMPLE_RATE * min_speech_ms / 1000
        self.pad = int(SAMPLE_RATE * speech_pad_ms / 1000)
        self.max_speech = SAMPLE_RATE * max_utterance_s - WINDOW - 2 * self.pad
        self.min_silence = SAMPLE_RATE * min_silence_ms / 1000
        self.min_silence_at_max = SAMPLE_RATE * 98 / 1000
        self._vad = SileroStream()
        self._run_start_s: float | None = None
        self._new_run(0.0)

    # -- public ----------------------------------------------------------------------

    @property
    def stream_seconds(self) -> float:
        """Media time (s) of the end of the audio pushed so far."""
        return self._t(self._n)

    @property
    def samples_scanned(self) -> int:
        """Samples the VAD model has scored so far: each pushed sample once (plus the zero padding
        of the last window of each run)."""
        return self._vad.samples_scanned

    def push(self, samples: np.ndarray, start_s: float | None = None) -> list[SpeechSegment]:
        """Append mono float32 16 kHz samples; return the utterances finished so far.

        ``start_s``: media time (s) of ``samples[0]``. None continues where the last block ended.
        A block that starts more than :data:`GAP_TOLERANCE_S` later ends the run before it (its
        open utterance is finished at the end of its audio) and starts a new run there; one
        that starts earlier (overlapping timestamps) is taken as continuing.
        """
        x = np.asarray(samples, dtype=np.float32).reshape(-1)
        out: list[SpeechSegment] = []
        if start_s is not None:
            if self._n == 0 and not self._pushed_any:
                self._run_start_s = float(start_s)
            elif start_s > self.stream_seconds + GAP_TOLERANCE_S:
                out += self._end_run()
                self._new_run(float(start_s))
        if not len(x):
            return out
        self._pushed_any = True
        self._buf = np.concatenate([self._buf, x]) if len(self._buf) else x.copy()
        self._n += len(x)
        ready = (self._n - self._next_window) // WINDOW
        if ready:
            lo = self._next_window - self._buf_start
            windows = self._buf[lo : lo + ready * WINDOW].reshape(ready, WINDOW)
            probs = self._vad(windows)
            for k, p in enumerate(probs):
                self._step(self._next_window // WINDOW + k, float(p))
            self._next_window += ready * WINDOW
        out += self._emit(final=False)
        self._trim()
        return out

    def flush(self) -> list[SpeechSegment]:
        """End of stream: every remaining utterance, including one still being spoken."""
        out = self._end_run()
        self._new_run(self.stream_seconds)
        return out

    # -- one run of contiguous audio ------------------------------------------------

    def _t(self, index: int) -> float:
        """Media time (s) of run sample ``index``."""
        return (self._run_start_s or 0.0) + index / SAMPLE_RATE

    def _new_run(self, start_s: float) -> None:
        self._vad.reset()
        self._run_start_s = start_s
        self._pushed_any = False
        self._n = 0  # samples pushed in this run
        self._buf = np.zeros(0, np.float32)
        self._buf_start = 0  # run index of _buf[0]
        self._next_window = 0  # run index of the next window to score
        self._triggered = False
        self._current: dict[str, int] = {}
        self._temp_end = self._prev_end = self._next_start = 0
        self._closed: list[dict[str, int]] = []  # finished speeches, raw bounds, not yet handed out
        self._last_raw_end: int | None = None  # raw end of the last speech handed out

    def _end_run(self) -> list[SpeechSegment]:
        """Score the partial last window (zero-padded, as get_speech_timestamps pads) and close
        the open speech at the end of the audio."""
        if not self._pushed_any:
            return []
        rest = self._buf[self._next_window - self._buf_start : self._n - self._buf_start]
        window = np.zeros(WINDOW, np.float32)
        window[: len(rest)] = rest
        self._step(self._next_window // WINDOW, float(self._vad(window[None])[0]))
        self._next_window += WINDOW
        if self._current and self._n - self._current["start"] > self.min_speech:
            self._closed.append({"start": self._current["start"], "end": self._n})
        self._current = {}
        self._triggered = False
        return self._emit(final=True)

    def _close(self, end: int) -> None:
        self._closed.append({"start": self._current["start"], "end": end})
        self._current = {}

    def _step(self, i: int, p: float) -> None:
        """faster-whisper's get_speech_timestamps loop body for window ``i`` (run index i * 512)."""
        pos = WINDOW * i
        if p >= self.threshold and self._temp_end:
            self._temp_end = 0
            if self._next_start < self._prev_end:
                self._next_start = pos
        if p >= self.threshold and not self._triggered:
            self._triggered = True
            self._current = {"start": pos}
            return
        if self._triggered and pos - self._current["start"] > self.max_speech:
            if self._prev_end:
                self._close(self._prev_end)
                if self._next_start < self._prev_end:  # silence since, no speech yet
                    self._triggered = False
                else:
                    self._current = {"start": self._next_start}
                self._prev_end = self._next_start = self._temp_end = 0
            else:
                self._close(pos)
                self._prev_end = self._next_start = self._temp_end = 0
                self._triggered = False
                return
        if p < self.neg_threshold and self._triggered:
            if not self._temp_end:
                self._temp_end = pos
            if pos - self._temp_end > self.min_silence_at_max:
                self._prev_end = self._temp_end
            if pos - self._temp_end < self.min_silence:
                return
            if self._temp_end - self._current["start"] > self.min_speech:
                self._close(self._temp_end)
            else:
                self._current = {}
            self._prev_end = self._next_start = self._temp_end = 0
            self._triggered = False

    def _emit(self, final: bool) -> list[SpeechSegment]:
        """Hand out the closed speeches whose padded bounds are settled (get_speech_timestamps'
        padding: neighbours closer than two pads split the gap, else each gets a pad)."""
        out = []
        while self._closed:
            speech = self._closed[0]
            if len(self._closed) > 1:
                next_start: int | None = self._closed[1]["start"]
            elif self._current:
                next_start = self._current["start"]
            else:
                next_start = None
            if next_start is None and not final and self._next_window - speech["end"] < 2 * self.pad:
                break  # a speech starting soon could still share the gap
            start = speech["start"]
            gap_before = None if self._last_raw_end is None else start - self._last_raw_end
            if gap_before is not None and gap_before < 2 * self.pad:
                start -= gap_before // 2
            else:
                start = max(0, start - self.pad)
            gap_after = None if next_start is None else next_start - speech["end"]
            if gap_after is not None and gap_after < 2 * self.pad:
                end = speech["end"] + gap_after // 2
            else:
                end = min(self._n, speech["end"] + self.pad)
            samples = self._buf[start - self._buf_start : end - self._buf_start].copy()
            out.append(SpeechSegment(self._t(start), self._t(end), samples))
            self._last_raw_end = speech["end"]
            self._closed.pop(0)
        return out

    def _trim(self) -> None:
        """Drop audio no utterance can need any more."""
        keep = self._next_window - self.pad  # a speech starting at the next window, padded
        if self._closed:
            keep = min(keep, self._closed[0]["start"] - self.pad)
        if self._current:
            keep = min(keep, self._current["start"] - self.pad)
        keep = max(keep, 0)
        if keep > self._buf_start:
            self._buf = self._buf[keep - self._buf_start :]
            self._buf_start = keep
