"""Voice-activity detection of a live stream: how much audio the VAD model scores, and what each
20 ms push costs, before and after the streaming segmenter.

    python -m bench.bench_vad [--seconds 12.5 60 300] [--pauses 1.5 0.3]

Input: real RAVDESS sentences (../shared/data/ravdess) with pauses between them (1.5 s: each
sentence its own utterance; 0.3 s: shorter than the 0.5 s of silence that ends an utterance, so
talk runs on to the 15 s limit), repeated to each stream length, pushed in 20 ms pieces as the
microphone delivers them (320 samples at 16 kHz).

- before: the segmenter as it was until the streaming one (emotion/speech/vad.py up to commit
  180dfd5): every 0.25 s of new audio it ran faster-whisper's ``get_speech_timestamps`` over its
  whole buffer (everything since the last finished utterance, plus a second of silence), and
  appended each push with ``np.concatenate`` (a copy of the buffer per push). Reproduced here as
  it was, for the measurement only.
- after: :class:`emotion.speech.vad.UtteranceSegmenter`, Silero's LSTM state carried across pushes,
  each sample scored once.

Prints the audio seconds scored by the model per second of stream, the utterances found, and the
median/p95 time per push (one CPU thread for onnxruntime, as in the app).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from emotion.speech.audio import SAMPLE_RATE, load_audio  # noqa: E402
from emotion.speech.vad import UtteranceSegmenter  # noqa: E402

RAVDESS = ROOT.parent / "shared" / "data" / "ravdess"
PUSH = 320  # 20 ms


class RescanningSegmenter:
    """The segmenter before this change (see the module docstring), counting the samples it hands
    to the VAD model."""

    def __init__(self):
        from faster_whisper.vad import VadOptions

        self.options = VadOptions(
            threshold=0.5, min_silence_duration_ms=500, min_speech_duration_ms=250, speech_pad_ms=200, max_speech_duration_s=15.0
        )
        self.step = int(0.25 * SAMPLE_RATE)
        self._buffer = np.zeros(0, np.float32)
        self._since = 0
        self.samples_scanned = 0

    def push(self, x: np.ndarray) -> int:
        from faster_whisper.vad import get_speech_timestamps

        self._buffer = np.concatenate([self._buffer, x])
        self._since += len(x)
        if self._since < self.step:
            return 0
        self._since = 0
        n = len(self._buffer)
        self.samples_scanned += n
        stamps = get_speech_timestamps(self._buffer, self.options, sampling_rate=SAMPLE_RATE)
        done = [s for s in stamps if s["end"] < n]
        if done:
            cut = done[-1]["end"]
        elif not stamps:
            cut = max(0, n - SAMPLE_RATE)
        else:
            cut = max(0, stamps[0]["start"] - SAMPLE_RATE)
        self._buffer = self._buffer[cut:]
        return len(done)


def stream(seconds: float, pause_s: float) -> np.ndarray:
    clips = [load_audio(p) for p in sorted(RAVDESS.glob("Actor_0[1-4]/*-01-01.flac"))[:8]]
    pause = np.zeros(int(pause_s * SAMPLE_RATE), np.float32)
    parts, n, i = [], 0, 0
    while n < seconds * SAMPLE_RATE:
        for part in (pause, clips[i % len(clips)]):
            parts.append(part)
            n += len(part)
        i += 1
    return np.concatenate(parts)[: int(seconds * SAMPLE_RATE)]


def run(segmenter, audio: np.ndarray) -> tuple[np.ndarray, int]:
    times, found = [], 0
    for i in range(0, len(audio), PUSH):
        t0 = time.perf_counter()
        out = segmenter.push(audio[i : i + PUSH])
        times.append(time.perf_counter() - t0)
        found += out if isinstance(out, int) else len(out)
    return np.array(times), found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, nargs="+", default=[12.5, 60.0, 300.0], help="stream lengths")
    ap.add_argument("--pauses", type=float, nargs="+", default=[1.5, 0.3], help="seconds of silence between sentences")
    args = ap.parse_args()
    if not RAVDESS.exists():
        sys.exit(f"RAVDESS not found at {RAVDESS}")
    print(f"machine: {platform.machine()}, {platform.processor() or 'cpu'}; pushes of {PUSH} samples (20 ms)")
    print("stream, pauses | segmenter | audio scored by the VAD = x the stream | utterances | per push: median, p95 | CPU")
    for pause in args.pauses:
        for seconds in args.seconds:
            audio = stream(seconds, pause)
            for name, seg in (("before (rescan)", RescanningSegmenter()), ("after (streaming)", UtteranceSegmenter())):
                t0 = time.process_time()
                times, found = run(seg, audio)
                cpu = time.process_time() - t0
                ratio = seg.samples_scanned / len(audio)
                print(
                    f"{seconds:6.1f} s, {pause:.1f} s | {name:18s} | {seg.samples_scanned / SAMPLE_RATE:7.1f} s = {ratio:5.2f}x | "
                    f"{found:3d} | {np.median(times) * 1e3:6.3f} ms, {np.percentile(times, 95) * 1e3:6.3f} ms | {cpu:6.2f} s"
                )


if __name__ == "__main__":
    main()
