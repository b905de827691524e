"""Acoustic (voice) emotion: utterance waveform -> Whisper encoder features -> session normalisation -> ONNX classifier.

- Features (:mod:`emotion.speech.encoder`): the middle layer(s) of Whisper tiny.en's encoder,
  run as ONNX on the utterance's own length, pooled as mean and standard deviation per channel.
  The card (``models_onnx/acoustic_emotion.json``) names the layers.
- Session normalisation (:mod:`emotion.speech.normalize`): each feature standardised over the
  utterances of the session (a live stream, or a file) so far, shrunk toward the training
  speakers' average; the prior is stored in the card.
- Classifier: standardisation, logistic regression or MLP and a calibration temperature in one
  ONNX graph, trained by ``training/train_acoustic.py`` on four corpora (English, Italian, Urdu,
  Turkish) and measured leave-one-corpus-out (``models_onnx/acoustic_emotion.md``).
- Uncertain: when the calibrated top probability is below the card's ``uncertain_below``, the
  pages say "uncertain" instead of a label and fusion gives the voice little weight.

Nothing here is unpickled: the model is ONNX, the prior plain JSON numbers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..config import Settings
from ..errors import InputError, ModelError
from ..labels import NUM_EMOTIONS
from ..models import OnnxModel
from .audio import SAMPLE_RATE
from .encoder import WhisperLayerEncoder, pooled_dim
from .normalize import SessionNormalizer

FEATURE_SETS = ("whisper_layers",)
"""Feature sets an acoustic model card may name (``input.feature_set``)."""

DEFAULT_UNCERTAIN_BELOW = 0.4
"""Top probability under which the voice is shown as "uncertain" when the card gives no threshold."""


class AcousticEmotionClassifier:
    """Classifies the tone of voice of an utterance into the 7 FER2013 emotions.

    Args:
        model_path: an ONNX file with a card beside it; default
            ``Settings.model_path(settings.acoustic_model)`` (``models_onnx/acoustic_emotion.onnx``).
        settings: runtime settings (model name, onnxruntime threads).
        encoder: a loaded :class:`~emotion.speech.encoder.WhisperLayerEncoder` to share; default
            the card's encoder from the models folder.

    Raises:
        ModelError: the model, its card or its encoder is missing or corrupt, the labels differ,
            the card names an unknown feature set, or the input width does not match its layers.

    Thread-safe: :meth:`predict` may be called from several threads (onnxruntime sessions are;
    each session's :class:`~emotion.speech.normalize.SessionNormalizer` locks).
    """

    def __init__(
        self, model_path: Path | None = None, settings: Settings | None = None, encoder: WhisperLayerEncoder | None = None
    ):
        settings = settings or Settings.from_env()
        path = model_path or settings.model_path(settings.acoustic_model)
        self.model = OnnxModel(path, threads=settings.ort_threads, output="probabilities")
        card = self.model.card
        inp = card.get("input", {})
        self.feature_set = inp.get("feature_set")
        if self.feature_set not in FEATURE_SETS:
            raise ModelError(f"{self.model.path.name}: unknown feature set {self.feature_set!r}; expected one of {FEATURE_SETS}")
        self.layers = [int(v) for v in inp.get("layers", [])]
        if not self.layers:
            raise ModelError(f"{self.model.path.name}: the card names no encoder layers")
        self.encoder = encoder or WhisperLayerEncoder(
            self.model.path.parent / inp.get("encoder", "whisper_tiny_encoder.onnx"), threads=settings.ort_threads
        )
        if max(self.layers) > self.encoder.n_layers:
            raise ModelError(f"{self.encoder.model_path.name} has {self.encoder.n_layers} layers; the model needs {self.layers}")
        self.feature_dim = pooled_dim(len(self.layers), self.encoder.dim)
        if list(inp.get("shape", [])[1:]) != [self.feature_dim]:
            raise ModelError(
                f"{self.model.path.name}: layers {self.layers} of {self.encoder.model_path.name} give [N, {self.feature_dim}], "
                f"card says {inp.get('shape')}"
            )
        norm = card.get("session_normalisation") or {}
        self._prior = None
        if norm.get("enabled"):
            mean, var = np.asarray(norm["prior_mean"], np.float64), np.asarray(norm["prior_var"], np.float64)
            if mean.shape != (self.feature_dim,) or var.shape != (self.feature_dim,):
                raise ModelError(f"{self.model.path.name}: session-normalisation prior is not [{self.feature_dim}]")
            self._prior = (mean, var, float(norm.get("shrinkage", 8.0)))
        self.uncertain_below = float(card.get("uncertain_below", DEFAULT_UNCERTAIN_BELOW))

    @property
    def name(self) -> str:
        return self.model.name

    def new_session(self) -> SessionNormalizer | None:
        """A fresh per-session normaliser for one speaker/stream/file (None when the model uses none)."""
        return None if self._prior is None else SessionNormalizer(*self._prior)

    def features(self, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
        """Pooled encoder features float32 [D] of one mono utterance (before session normalisation).

        Raises:
            InputError: empty or not 1-D input, or a non-positive sample rate.
        """
        x = np.asarray(samples, dtype=np.float32)
        if x.ndim != 1 or len(x) == 0:
            raise InputError(f"expected a non-empty 1-D waveform, got shape {x.shape}")
        if sample_rate <= 0:
            raise InputError(f"sample rate must be positive, got {sample_rate}")
        if sample_rate != SAMPLE_RATE:
            import soxr

            x = soxr.resample(x, sample_rate, SAMPLE_RATE).astype(np.float32)
        return self.encoder.features(x, self.layers)

    def predict_features(self, features: np.ndarray) -> np.ndarray:
        """Probabilities float32 [n, 7] (rows sum to 1) for already normalised features float32 [n, D]; [0, D] gives [0, 7].

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

    def predict(
        self, samples: np.ndarray, sample_rate: int = SAMPLE_RATE, session: SessionNormalizer | None = None
    ) -> np.ndarray:
        """Probabilities float32 (7,) in :data:`emotion.labels.EMOTIONS` order for one utterance.

        ``session`` (from :meth:`new_session`) holds the utterances of the same stream or file:
        this utterance is added to it, then standardised over it. Without one, the utterance
        is a session of its own.

        Raises:
            InputError: see :meth:`features`.
        """
        f = self.features(samples, sample_rate)
        session = session if session is not None else self.new_session()
        if session is not None:
            session.add(f)
            f = session(f)
        return self.predict_features(f[None, :])[0]

    def is_uncertain(self, probabilities: np.ndarray | None) -> bool:
        """Whether the top probability is below :attr:`uncertain_below` (False for None)."""
        return probabilities is not None and float(np.max(probabilities)) < self.uncertain_below
