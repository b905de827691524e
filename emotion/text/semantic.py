"""Semantic (text) emotion: a sentence -> tokenizer -> one ONNX call -> probabilities.

Default model: all-MiniLM-L6-v2 (Apache-2.0) fine-tuned on MELD and a
down-weighted GoEmotions-Ekman subset by ``training/train_semantic.py``; its
card is ``models_onnx/text_emotion.md``. Needs only onnxruntime, tokenizers and
numpy at run time (no torch, no transformers).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from ..config import Settings
from ..errors import InputError, ModelError
from ..labels import NUM_EMOTIONS
from ..models import OnnxModel

DEFAULT_MAX_LENGTH = 128
"""Longest token sequence (including [CLS] and [SEP]) when the card names none."""

_QUOTES = str.maketrans(
    {
        "\u2018": "'",  # left single quotation mark
        "\u2019": "'",  # right single quotation mark (MELD's apostrophe)
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u00b4": "'",
        "\u0060": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
        "\u2013": "-",  # en dash
        "\u2014": "-",  # em dash
        "\u2026": "...",  # ellipsis
        "\u00a0": " ",  # no-break space
    }
)
_SPACES = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """The text as the model was trained on it: curly quotes, primes and backticks
    -> straight quotes, en/em dashes -> ``-``, ``…`` -> ``...``, runs of whitespace
    (incl. no-break spaces and newlines) -> one space, stripped at both ends.

    Raises:
        InputError: ``text`` is not a ``str``.
    """
    if not isinstance(text, str):
        raise InputError(f"text must be a string, got {type(text).__name__}")
    return _SPACES.sub(" ", text.translate(_QUOTES)).strip()


def tokenizer_path(model_path: Path) -> Path:
    """The tokenizer file beside ``model_path``: same stem + ``.tokenizer.json``."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.stem + ".tokenizer.json")


class TextEmotionClassifier:
    """Classifies sentences into the 7 FER2013-order emotions with an ONNX text model.

    Args:
        model_path: an ONNX file with inputs ``input_ids`` and ``attention_mask``
            (int64 [N, T]) and output ``probabilities`` (float32 [N, 7]), a JSON card
            beside it and a Hugging Face ``tokenizers`` file ``<stem>.tokenizer.json``;
            default from :class:`Settings` (``models_onnx/text_emotion.onnx``).
        settings: runtime settings (model name, threads).

    Raises:
        ModelError: the model, its card or its tokenizer is missing or corrupt, or the
            card lists other labels.

    ``predict`` and ``predict_batch`` are safe to call from several threads at once
    (the tokenizer's padding/truncation state is set once here, encoding is guarded
    by a lock, and onnxruntime sessions are thread-safe).
    """

    def __init__(self, model_path: Path | None = None, settings: Settings | None = None):
        settings = settings or Settings.from_env()
        path = Path(model_path) if model_path is not None else settings.model_path(settings.text_model)
        self.model = OnnxModel(path, threads=settings.ort_threads, output="probabilities")
        self.max_length = int(self.model.card.get("max_length", DEFAULT_MAX_LENGTH))
        tok_path = tokenizer_path(self.model.path)
        if not tok_path.is_file():
            raise ModelError(f"tokenizer file not found: {tok_path}")
        try:
            tok = Tokenizer.from_file(str(tok_path))
        except Exception as exc:  # tokenizers raises its own exception type for bad files
            raise ModelError(f"tokenizer file {tok_path} could not be loaded: {exc}") from None
        pad_id = tok.token_to_id("[PAD]")
        tok.enable_truncation(max_length=self.max_length)
        tok.enable_padding(pad_id=0 if pad_id is None else pad_id, pad_token="[PAD]")
        self.tokenizer = tok
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.model.name

    def encode(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Model inputs for ``texts``: ``input_ids`` and ``attention_mask``, int64
        [n, T], padded to the longest and truncated to :attr:`max_length` tokens.

        Raises:
            InputError: a text is not a ``str``, or is empty or whitespace only.
        """
        clean = []
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise InputError(f"text {i} must be a string, got {type(text).__name__}")
            t = normalize_text(text)
            if not t:
                raise InputError("text is empty" if len(texts) == 1 else f"text {i} is empty")
            clean.append(t)
        with self._lock:
            enc = self.tokenizer.encode_batch(clean)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        return {"input_ids": ids, "attention_mask": mask}

    def predict_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities float32 [n, 7] (rows sum to 1, :data:`~emotion.labels.EMOTIONS`
        order) for ``texts``, in one ONNX call; an empty list gives [0, 7].

        Raises:
            InputError: ``texts`` is a bare string, or a text is not a ``str`` or is empty.
        """
        if isinstance(texts, str):
            raise InputError("predict_batch takes a list of strings; use predict for one string")
        if len(texts) == 0:
            return np.zeros((0, NUM_EMOTIONS), np.float32)
        probs = self.model.run(self.encode(list(texts)))
        return np.asarray(probs, dtype=np.float32)

    def predict(self, text: str) -> np.ndarray:
        """Probabilities float32 (7,) (sum 1, EMOTIONS order) for one sentence.

        Raises:
            InputError: ``text`` is not a ``str``, or is empty or whitespace only.
        """
        if not isinstance(text, str):
            raise InputError(f"text must be a string, got {type(text).__name__}")
        return self.predict_batch([text])[0]
