"""Speech benchmark: Whisper real-time factor and per-utterance latency of each classifier.

    python -m bench.bench_speech [--clips 40]

Inputs: real RAVDESS utterances (../shared/data/ravdess, ~3.5 s each), one per clip.
RTF is reported as audio seconds per wall-clock second (higher is faster).
"End of utterance -> result" replays speech through the live pipeline in real time and
measures, for each utterance, the time from the end of its audio to its analysed result.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from bench.timing import summary_ms  # noqa: E402
from devkit.media import webrtc_frames  # noqa: E402
from emotion.live import SpeechStreamProcessor  # noqa: E402
from emotion.speech.analyzer import SpeechEmotionAnalyzer  # noqa: E402
from emotion.speech.audio import load_audio  # noqa: E402

RAVDESS = ROOT.parent / "shared" / "data" / "ravdess"


def live_latency(analyzer: SpeechEmotionAnalyzer, clips: list[np.ndarray]) -> np.ndarray:
    """Seconds from the end of each utterance's audio to its result, replayed in real time."""
    silence = np.zeros(16_000, np.float32)
    proc = SpeechStreamProcessor(analyzer)
    latencies = []
    for clip in clips:
        frames = webrtc_frames(np.concatenate([clip, silence]))
        n_before = len(proc.snapshot().utterances)
        start = time.perf_counter()
        speech_end = start + len(clip) / 16_000
        for i in range(0, len(frames), 5):  # 100 ms of frames at a time, in real time
            asyncio.run(proc.on_audio_frames(frames[i : i + 5]))
            target = start + (i + 5) * 0.02
            time.sleep(max(0.0, target - time.perf_counter()))
        while len(proc.snapshot().utterances) == n_before and time.perf_counter() - speech_end < 10:
            time.sleep(0.005)
        latencies.append(time.perf_counter() - speech_end)
    proc.stop()
    return np.array(latencies)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=40)
    ap.add_argument("--live-clips", type=int, default=8)
    args = ap.parse_args()
    if not RAVDESS.exists():
        raise SystemExit(f"RAVDESS not found at {RAVDESS}")
    paths = sorted(RAVDESS.glob("Actor_*/*.flac"))
    paths = [paths[i] for i in np.random.default_rng(0).choice(len(paths), size=args.clips, replace=False)]
    clips = [load_audio(p) for p in paths]
    analyzer = SpeechEmotionAnalyzer.from_settings()
    transcriber, acoustic, semantic = analyzer.transcriber, analyzer.acoustic, analyzer.semantic

    texts = []
    whisper, feats, acoustic_t, semantic_t = [], [], [], []
    for clip in clips[:3]:  # warm-up
        semantic.predict(transcriber.transcribe(clip).text or "hello")
        acoustic.predict(clip)
    for clip in clips:
        t0 = time.perf_counter()
        text = transcriber.transcribe(clip).text
        whisper.append(time.perf_counter() - t0)
        texts.append(text or "okay")
        t0 = time.perf_counter()
        f = acoustic.features(clip)
        feats.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        acoustic.predict_features(f[None])
        acoustic_t.append(time.perf_counter() - t0)
    context_t = []
    for previous, text in zip([""] + texts[:-1], texts, strict=True):
        t0 = time.perf_counter()
        semantic.predict(text)
        semantic_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        semantic.predict(text, previous)  # as in a conversation: the utterance before it as context
        context_t.append(time.perf_counter() - t0)
    whisper, durations = np.array(whisper), np.array([len(c) / 16_000 for c in clips])
    rtf = durations / whisper

    print(
        f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}, {args.clips} RAVDESS utterances"
    )
    print(
        f"Whisper {transcriber.model_label}: RTF median {np.median(rtf):.1f}x, p5 {np.percentile(rtf, 5):.1f}x real time "
        f"(audio s per wall s); per utterance {summary_ms(whisper)}"
    )
    print(f"acoustic features ({acoustic.feature_set}, layers {acoustic.layers}) per utterance: {summary_ms(np.array(feats))}")
    four = []  # the budget is stated per 4 s utterance: each clip looped to exactly 4.0 s
    for clip in clips:
        x = np.resize(clip, 4 * 16_000)
        t0 = time.perf_counter()
        acoustic.features(x)
        four.append(time.perf_counter() - t0)
    print(f"acoustic features per 4.0 s utterance (one thread): {summary_ms(np.array(four))}")
    print(f"acoustic classifier (ONNX) per utterance: {summary_ms(np.array(acoustic_t))}")
    print(f"semantic classifier (ONNX, tokenizer included) per sentence: {summary_ms(np.array(semantic_t))}")
    print(
        f"semantic classifier with the previous utterance as context (reads context: {semantic.reads_context}): "
        f"{summary_ms(np.array(context_t))}"
    )
    live = live_latency(analyzer, clips[: args.live_clips])
    print(f"live: end of utterance -> result (VAD close + Whisper + both classifiers): {summary_ms(live)}")


if __name__ == "__main__":
    main()
