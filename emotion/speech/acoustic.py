"""Acoustic (voice) emotion: utterance waveform -> features -> ONNX classifier.

Two feature sets, compared by ``training/train_acoustic.py`` on RAVDESS leave-actors-out:

- ``"librosa"``: frame-level librosa descriptors (ZCR, RMS, chroma, MFCC and deltas,
  log-mel, spectral contrast/shape, pitch) summarised over the utterance
  (:func:`acoustic_features`, D = 819);
- ``"whisper_encoder"``: mean+std pooled Whisper tiny.en encoder states
  (:class:`emotion.speech.encoder.WhisperEncoderEmbedder`, D = 768).

The classifier is a scikit-learn pipeline (standard scaler + classifier) exported with
skl2onnx to ``models_onnx/acoustic_emotion.onnx``, so the app never unpickles anything; its
card (``acoustic_emotion.json``) names the feature set, and :class:`AcousticEmotionClassifier`
computes those features. Human-readable card: ``models_onnx/acoustic_emotion.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..config import Settings
from ..errors import InputError, ModelError
from ..labels import NUM_EMOTIONS
from ..models import OnnxModel
from .audio import SAMPLE_RATE

N_FFT = 512
"""STFT window length in samples (32 ms at 16 kHz)."""

HOP_LENGTH = 160
"""STFT hop in samples (10 ms at 16 kHz)."""

N_MFCC = 40
"""Number of MFCCs (and of their deltas)."""

N_MELS = 64
"""Number of mel bands of the log-mel spectrogram."""

N_CHROMA = 12
N_CONTRAST = 7  # librosa spectral_contrast: 6 bands + the valley/peak of the residual

F0_MIN_HZ, F0_MAX_HZ = 60.0, 500.0
"""Search range of the YIN fundamental-frequency estimate (Hz)."""

MIN_SECONDS = 0.5
"""Shorter input is zero-padded (centred) to this length before analysis."""

TRIM_TOP_DB = 40.0
"""Leading and trailing audio more than this many dB below the peak is trimmed before analysis."""

VOICED_REL_RMS = 0.1
"""Frames whose RMS is above this fraction of the utterance's peak RMS count as voiced (for F0 statistics)."""

_FRAME_ROWS: tuple[tuple[str, int, bool], ...] = (
    # name, rows, also summarised by percentiles/skew/range
    ("zcr", 1, True),
    ("rms_db", 1, True),
    ("chroma", N_CHROMA, False),
    ("mfcc", N_MFCC, True),
    ("mfcc_delta", N_MFCC, True),
    ("logmel", N_MELS, False),
    ("contrast", N_CONTRAST, True),
    ("centroid_khz", 1, True),
    ("bandwidth_khz", 1, True),
    ("rolloff_khz", 1, True),
    ("flatness", 1, True),
    ("f0_st", 1, True),
)
_MOMENTS = ("mean", "std")
_ROBUST = ("p10", "p50", "p90", "skew", "range")
_UTTERANCE = (
    "voiced_fraction",
    "voiced_f0_mean",
    "voiced_f0_std",
    "voiced_f0_p5",
    "voiced_f0_p95",
    "voiced_f0_range",
    "voiced_f0_abs_slope",
    "rms_db_peak",
    "rms_db_std_voiced",
)


def _row_names(robust_only: bool) -> list[str]:
    return [f"{name}_{i}" for name, n, robust in _FRAME_ROWS if robust or not robust_only for i in range(n)]


FEATURE_NAMES: tuple[str, ...] = (
    tuple(f"{stat}_{row}" for stat in _MOMENTS for row in _row_names(False))
    + tuple(f"{stat}_{row}" for stat in _ROBUST for row in _row_names(True))
    + _UTTERANCE
)
"""Name of every feature, in vector order (see :data:`FEATURE_DESCRIPTION`)."""

FEATURE_DIM = len(FEATURE_NAMES)
"""D, the length of a feature vector: 2 x 170 + 5 x 94 + 9 = 819."""

FEATURE_DESCRIPTION = (
    f"{FEATURE_DIM} float32. Frame-level rows (librosa, mono 16 kHz, n_fft {N_FFT}, hop {HOP_LENGTH} = 10 ms): "
    f"zero-crossing rate (1), RMS energy in dB (1), STFT chroma (12), MFCC (40), MFCC delta (40), log-mel in dB (64 bands), "
    f"spectral contrast (7), spectral centroid, bandwidth and roll-off in kHz and flatness (4), YIN F0 in semitones re "
    f"100 Hz ({F0_MIN_HZ:g}-{F0_MAX_HZ:g} Hz) (1) = 170 rows. Vector: [mean of the 170 rows, std of the 170 rows, "
    f"then p10, p50, p90, skewness, max-min of the 94 rows other than chroma and log-mel, then 9 utterance values: "
    f"voiced-frame fraction (RMS > {VOICED_REL_RMS:g} x peak), F0 mean, std, p5, p95, p95-p5 and mean |frame-to-frame change| "
    f"over voiced frames (semitones), peak RMS dB, std of RMS dB over voiced frames]. Leading/trailing audio "
    f"{TRIM_TOP_DB:g} dB below the peak trimmed; input shorter than {MIN_SECONDS:g} s zero-padded"
)
"""Description of the feature vector (stored in the model card)."""


def _prepare(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    import librosa

    x = np.asarray(samples)
    if x.ndim != 1:
        raise InputError(f"expected a mono waveform (1-D array), got shape {x.shape}")
    if x.size == 0:
        raise InputError("the audio is empty (0 samples)")
    x = np.nan_to_num(x.astype(np.float32, copy=False), nan=0.0, posinf=0.0, neginf=0.0)
    if sample_rate != SAMPLE_RATE:
        if sample_rate <= 0:
            raise InputError(f"sample rate must be positive, got {sample_rate}")
        x = librosa.resample(x, orig_sr=sample_rate, target_sr=SAMPLE_RATE).astype(np.float32)
    if np.any(x):
        trimmed, _ = librosa.effects.trim(x, top_db=TRIM_TOP_DB, frame_length=N_FFT, hop_length=HOP_LENGTH)
        if trimmed.size:
            x = trimmed
    min_len = int(MIN_SECONDS * SAMPLE_RATE)
    if x.size < min_len:
        pad = min_len - x.size
        x = np.pad(x, (pad // 2, pad - pad // 2))
    return np.ascontiguousarray(x, dtype=np.float32)


def _frame_features(x: np.ndarray) -> np.ndarray:
    """Frame-level descriptors float64 [170, frames] of a prepared 16 kHz waveform (rows as in :data:`_FRAME_ROWS`)."""
    import librosa

    sr = SAMPLE_RATE
    stft = np.abs(librosa.stft(x, n_fft=N_FFT, hop_length=HOP_LENGTH))
    power = stft**2
    mel = librosa.feature.melspectrogram(S=power, sr=sr, n_mels=N_MELS, fmax=sr / 2)
    logmel = np.maximum(librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None), -100.0)
    mfcc = librosa.feature.mfcc(S=logmel, n_mfcc=N_MFCC)
    mfcc_delta = librosa.feature.delta(mfcc, width=9, mode="nearest")
    rms = librosa.feature.rms(S=stft, frame_length=N_FFT, hop_length=HOP_LENGTH)
    f0 = librosa.yin(x, fmin=F0_MIN_HZ, fmax=F0_MAX_HZ, sr=sr, frame_length=1024, hop_length=HOP_LENGTH)
    rows = [
        librosa.feature.zero_crossing_rate(x, frame_length=N_FFT, hop_length=HOP_LENGTH),
        20.0 * np.log10(rms + 1e-5),
        librosa.feature.chroma_stft(S=power, sr=sr, n_fft=N_FFT, hop_length=HOP_LENGTH, tuning=0.0),
        mfcc,
        mfcc_delta,
        logmel,
        librosa.feature.spectral_contrast(S=stft, sr=sr, n_fft=N_FFT, hop_length=HOP_LENGTH),
        librosa.feature.spectral_centroid(S=stft, sr=sr) / 1000.0,
        librosa.feature.spectral_bandwidth(S=stft, sr=sr) / 1000.0,
        librosa.feature.spectral_rolloff(S=stft, sr=sr) / 1000.0,
        librosa.feature.spectral_flatness(S=stft),
        12.0 * np.log2(np.clip(f0, F0_MIN_HZ, F0_MAX_HZ) / 100.0)[None, :],
    ]
    n = min(r.shape[1] for r in rows)
    return np.concatenate([r[:, :n] for r in rows], axis=0).astype(np.float64)


def acoustic_features(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Utterance-level acoustic features of one mono waveform.

    Args:
        samples: mono waveform, float [n] in [-1, 1] (as from :func:`emotion.speech.audio.load_audio`).
        sample_rate: rate of ``samples`` in Hz; other rates are resampled to 16 kHz.

    Returns:
        float32 [:data:`FEATURE_DIM`] (819), finite, in the order of :data:`FEATURE_NAMES`
        (see :data:`FEATURE_DESCRIPTION`). Silence gives a finite vector.

    Raises:
        InputError: empty input, not 1-D, or a non-positive sample rate.
    """
    x = _prepare(samples, sample_rate)
    frames = _frame_features(x)
    robust_rows = np.concatenate([np.full(n, robust) for _, n, robust in _FRAME_ROWS])
    sub = frames[robust_rows]
    centred = sub - sub.mean(axis=1, keepdims=True)
    sd = np.sqrt((centred**2).mean(axis=1))
    sk = np.where(sd > 1e-6, (centred**3).mean(axis=1) / np.maximum(sd, 1e-6) ** 3, 0.0)  # skewness, 0 for flat rows
    pct = np.percentile(sub, [10, 50, 90], axis=1)
    rms_db, f0 = frames[1], frames[-1]
    voiced = rms_db > rms_db.max() + 20.0 * np.log10(VOICED_REL_RMS)
    if voiced.sum() < 3:
        voiced = np.ones_like(voiced)
    vf0 = f0[voiced]
    p5, p95 = np.percentile(vf0, [5, 95])
    utterance = [
        float(voiced.mean()),
        vf0.mean(),
        vf0.std(),
        p5,
        p95,
        p95 - p5,
        float(np.abs(np.diff(vf0)).mean()) if len(vf0) > 1 else 0.0,
        rms_db.max(),
        rms_db[voiced].std(),
    ]
    out = np.concatenate(
        [frames.mean(axis=1), frames.std(axis=1), pct[0], pct[1], pct[2], sk, sub.max(axis=1) - sub.min(axis=1), utterance]
    ).astype(np.float32)
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


FEATURE_SETS = ("librosa", "whisper_encoder")
"""Names of the feature sets an acoustic model can be trained on (its card's ``input.feature_set``)."""


def feature_extractor(feature_set: str) -> tuple[Callable[[np.ndarray], np.ndarray], int]:
    """(function: mono float32 16 kHz waveform -> float32 [D] features, D) of a feature set.

    Raises:
        ModelError: unknown feature set, or its encoder cannot be loaded.
    """
    if feature_set == "librosa":
        return acoustic_features, FEATURE_DIM
    if feature_set == "whisper_encoder":
        from .encoder import EMBEDDING_DIM, WhisperEncoderEmbedder

        return WhisperEncoderEmbedder(), EMBEDDING_DIM
    raise ModelError(f"unknown acoustic feature set {feature_set!r}; expected one of {FEATURE_SETS}")


class AcousticEmotionClassifier:
    """Classifies the tone of voice of an utterance into the 7 FER2013 emotions with an ONNX model.

    Args:
        model_path: an ONNX file with a card beside it; default
            ``Settings.model_path(settings.acoustic_model)`` (``models_onnx/acoustic_emotion.onnx``).
        settings: runtime settings (model name, onnxruntime threads).

    Raises:
        ModelError: the model or its card is missing, corrupt, has other labels, names an
            unknown feature set, or its input width differs from that feature set's.

    Thread-safe: :meth:`predict` may be called from several threads (onnxruntime sessions are,
    and the Whisper encoder serialises its calls).
    """

    def __init__(self, model_path: Path | None = None, settings: Settings | None = None):
        settings = settings or Settings.from_env()
        path = model_path or settings.model_path(settings.acoustic_model)
        self.model = OnnxModel(path, threads=settings.ort_threads, output="probabilities")
        inp = self.model.card.get("input", {})
        self.feature_set = inp.get("feature_set", "librosa")
        self._extract, self.feature_dim = feature_extractor(self.feature_set)
        shape = inp.get("shape", [])
        if list(shape[1:]) != [self.feature_dim]:
            raise ModelError(
                f"{self.model.path.name}: expected input [N, {self.feature_dim}] for {self.feature_set}, card says {shape}"
            )

    @property
    def name(self) -> str:
        return self.model.name

    def features(self, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
        """The model's input features float32 [D] for one mono utterance.

        Raises:
            InputError: empty or not 1-D input, or a non-positive sample rate.
        """
        if self.feature_set == "librosa":
            return acoustic_features(samples, sample_rate)
        x = np.asarray(samples, dtype=np.float32)
        if x.ndim != 1 or len(x) == 0:
            raise InputError(f"expected a non-empty 1-D waveform, got shape {x.shape}")
        if sample_rate <= 0:
            raise InputError(f"sample rate must be positive, got {sample_rate}")
        if sample_rate != SAMPLE_RATE:
            import soxr

            x = soxr.resample(x, sample_rate, SAMPLE_RATE).astype(np.float32)
        return self._extract(x)

    def predict_features(self, features: np.ndarray) -> np.ndarray:
        """Probabilities float32 [n, 7] (rows sum to 1) for features float32 [n, D]; [0, D] gives [0, 7].

        Raises:
            InputError: ``features`` is not [n, D].
        """
        x = np.asarray(features, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.feature_dim:
            raise InputError(f"expected features of shape [n, {self.feature_dim}], got {x.shape}")
        if len(x) == 0:
            return np.zeros((0, NUM_EMOTIONS), np.float32)
        probs = np.asarray(self.model.run(np.ascontiguousarray(x)), dtype=np.float32)
        return probs / np.maximum(probs.sum(axis=1, keepdims=True), 1e-12)

    def predict(self, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
        """Probabilities float32 (7,) in :data:`emotion.labels.EMOTIONS` order for one utterance.

        Raises:
            InputError: see :meth:`features`.
        """
        return self.predict_features(self.features(samples, sample_rate)[None, :])[0]
