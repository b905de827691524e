"""Features of the speech corpora for the voice model: clean, augmented and through the live channel.

Every clip of ``training/speech_corpora.py`` is analysed in four versions:

- ``clean``: the corpus file as it is;
- ``aug_a``, ``aug_b``: two random copies that mimic other microphones and rooms (training only):
  speed/pitch change (resampling, x0.9-1.1), reverberation (synthetic exponentially decaying
  room response, RT60 0.2-0.8 s), noise (white or pink, 5-30 dB SNR), gain (+-10 dB) with an
  automatic-gain-control pass, then an Opus round trip (8-32 kbit/s, as WebRTC sends audio);
  each effect with its own probability, all seeded per clip;
- ``live``: one fixed channel like a browser microphone through WebRTC (AGC, then Opus at
  24 kbit/s), used only to measure.

For each version: pooled states of each of Whisper tiny.en's 4 encoder layers
(:class:`emotion.speech.encoder.WhisperLayerEncoder`, 4 x 768) and the 88 eGeMAPS v02
functionals (openSMILE; Eyben et al. 2016) of the clean and live versions, as a baseline. Cached in ``ACOUSTIC_CACHE_DIR``
(default ``/tmp/acoustic_features``) keyed by the clip list and this module's settings.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from emotion.speech.audio import SAMPLE_RATE, load_audio
from emotion.speech.encoder import TRIM_MARGIN_S, TRIM_TOP_DB
from training.speech_corpora import Clip

VERSIONS: tuple[str, ...] = ("clean", "aug_a", "aug_b", "live")
TRAIN_VERSIONS: tuple[str, ...] = ("clean", "aug_a", "aug_b")
GEMAPS_VERSIONS: tuple[str, ...] = ("clean", "live")
CACHE_DIR = Path(os.environ.get("ACOUSTIC_CACHE_DIR", "/tmp/acoustic_features"))
LIVE_OPUS_BITRATE = 24_000
AUG_SETTINGS = "speed .9-1.1 p.5; reverb rt60 .2-.8 p.4; noise 5-30 dB p.6; gain +-10 dB + agc p.5; opus 8-32k p.7"


def opus_roundtrip(x: np.ndarray, bitrate: int) -> np.ndarray:
    """``x`` (float32 16 kHz mono) encoded with libopus at ``bitrate`` bit/s (48 kHz, as WebRTC) and decoded back to 16 kHz."""
    import av
    import soxr

    y = soxr.resample(x, SAMPLE_RATE, 48_000).astype(np.float32)
    buf = io.BytesIO()
    with av.open(buf, "w", format="ogg") as out:
        stream = out.add_stream("libopus", rate=48_000)
        stream.layout = "mono"
        stream.bit_rate = int(bitrate)
        frame = av.AudioFrame.from_ndarray(np.clip(y, -1, 1)[None, :], format="flt", layout="mono")
        frame.rate = 48_000
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    buf.seek(0)
    with av.open(buf) as inp:
        z = np.concatenate([f.to_ndarray().reshape(-1) for f in inp.decode(inp.streams.audio[0])])
    z = soxr.resample(z.astype(np.float32), 48_000, SAMPLE_RATE).astype(np.float32)
    return z[: len(x)] if len(z) >= len(x) else np.pad(z, (0, len(x) - len(z)))


def agc(x: np.ndarray, strength: float, target_db: float = -20.0) -> np.ndarray:
    """A simple automatic gain control: gain (target / 100 ms RMS envelope) ** ``strength``, at most +20 dB."""
    win = int(0.1 * SAMPLE_RATE)
    env = np.sqrt(np.convolve(x.astype(np.float64) ** 2, np.ones(win) / win, mode="same") + 1e-8)
    gain = np.minimum((10 ** (target_db / 20) / env) ** strength, 10.0)
    return np.clip(x * gain, -1, 1).astype(np.float32)


def _noise(n: int, pink: bool, rng: np.random.Generator) -> np.ndarray:
    white = rng.standard_normal(n)
    if not pink:
        return white
    spec = np.fft.rfft(white)
    spec /= np.sqrt(np.maximum(np.arange(len(spec)), 1))
    return np.fft.irfft(spec, n)


def channel_augment(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random copy of ``x`` through another microphone, room and codec (see the module doc)."""
    import soxr
    from scipy.signal import fftconvolve

    y = x.astype(np.float32)
    if rng.random() < 0.5:  # speed and pitch together, by resampling
        y = soxr.resample(y, SAMPLE_RATE, int(SAMPLE_RATE * rng.uniform(0.9, 1.1))).astype(np.float32)
    if rng.random() < 0.4:
        rt60 = rng.uniform(0.2, 0.8)
        t = np.arange(int(rt60 * SAMPLE_RATE)) / SAMPLE_RATE
        rir = rng.standard_normal(len(t)) * np.exp(-6.9 * t / rt60)
        rir[0] = 1.0
        wet = fftconvolve(y, rir / np.abs(rir).sum() * 4)[: len(y)]
        y = (wet / max(np.abs(wet).max(), 1e-6) * max(np.abs(y).max(), 1e-6)).astype(np.float32)
    if rng.random() < 0.6:
        snr = rng.uniform(5, 30)
        noise = _noise(len(y), rng.random() < 0.5, rng)
        p_sig = np.mean(y.astype(np.float64) ** 2) + 1e-10
        y = (y + noise * np.sqrt(p_sig / (np.mean(noise**2) * 10 ** (snr / 10)))).astype(np.float32)
    y = np.clip(y * 10 ** (rng.uniform(-10, 10) / 20), -1, 1).astype(np.float32)
    if rng.random() < 0.5:
        y = agc(y, rng.uniform(0.3, 0.8))
    if rng.random() < 0.7:
        y = opus_roundtrip(y, int(rng.uniform(8_000, 32_000)))
    return y


def live_channel(x: np.ndarray) -> np.ndarray:
    """``x`` as a browser microphone sends it: AGC (strength 0.5), then Opus at 24 kbit/s."""
    return opus_roundtrip(agc(x, 0.5), LIVE_OPUS_BITRATE)


def clip_rng(clip: Clip, seed: int, version: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}:{clip.key}:{version}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


_worker: dict = {}


def _init(encoder_path: str, gemaps: bool) -> None:
    from emotion.speech.encoder import WhisperLayerEncoder

    _worker["encoder"] = WhisperLayerEncoder(Path(encoder_path), threads=1)
    _worker["smile"] = None
    if gemaps:
        import opensmile

        _worker["smile"] = opensmile.Smile(
            feature_set=opensmile.FeatureSet.eGeMAPSv02, feature_level=opensmile.FeatureLevel.Functionals
        )


def _one(args: tuple[Clip, int]) -> tuple[np.ndarray, np.ndarray]:
    clip, seed = args
    x = load_audio(clip.path)
    enc, smile = _worker["encoder"], _worker["smile"]
    whisper, gemaps = [], []
    for version in VERSIONS:
        if version == "clean":
            y = x
        elif version == "live":
            y = live_channel(x)
        else:
            y = channel_augment(x, clip_rng(clip, seed, version))
        whisper.append(enc.features(y))
        if smile is not None and version in GEMAPS_VERSIONS:  # the baseline row is measured without augmentation
            gemaps.append(smile.process_signal(y, SAMPLE_RATE).to_numpy()[0])
    return np.stack(whisper), (np.stack(gemaps) if gemaps else np.zeros((len(GEMAPS_VERSIONS), 88))).astype(np.float32)


def extract(
    clips: list[Clip], encoder_path: Path, seed: int, workers: int = 2, log=print, gemaps: bool = True
) -> dict[str, np.ndarray]:
    """{"whisper": float32 [V, n, 4 * 768] over :data:`VERSIONS`, "egemaps": float32 [2, n, 88] over
    :data:`GEMAPS_VERSIONS`, zeros unless ``gemaps``}, cached."""
    key = hashlib.sha256(
        json.dumps(
            [
                [c.key for c in clips],
                seed,
                AUG_SETTINGS,
                LIVE_OPUS_BITRATE,
                encoder_path.stat().st_size,
                TRIM_TOP_DB,
                TRIM_MARGIN_S,
            ]
        ).encode()
    ).hexdigest()[:16]
    path = CACHE_DIR / f"speech_{len(clips)}_{key}.npz"
    if path.exists():
        log(f"features: loaded {path}")
        with np.load(path) as d:
            return {"whisper": d["whisper"], "egemaps": d["egemaps"]}
    t0 = time.perf_counter()
    out_w, out_g = [], []
    with ProcessPoolExecutor(workers, initializer=_init, initargs=(str(encoder_path), gemaps)) as pool:
        for i, (w, g) in enumerate(pool.map(_one, [(c, seed) for c in clips], chunksize=8)):
            out_w.append(w)
            out_g.append(g)
            if (i + 1) % 250 == 0 or i + 1 == len(clips):
                el = time.perf_counter() - t0
                log(f"features: {i + 1}/{len(clips)} clips, {el:.0f} s, eta {el / (i + 1) * (len(clips) - i - 1):.0f} s")
    feats = {"whisper": np.stack(out_w, 1), "egemaps": np.nan_to_num(np.stack(out_g, 1))}
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    np.savez(path, **feats)
    return feats
