"""Semantic (text) emotion: a sentence -> tokenizer -> one ONNX call -> probabilities.

Default model: all-MiniLM-L6-v2 (Apache-2.0) fine-tuned by ``training/train_semantic.py``
on MELD, DailyDialog, GoEmotions-Ekman and CARER, reading the previous utterance of the
conversation when there is one; its card is ``models_onnx/text_emotion.md``. Needs only
onnxruntime, tokenizers and numpy at run time (no torch, no transformers).
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
from ..labels import EMOTIONS, NUM_EMOTIONS
from ..models import OnnxModel

NEUTRAL = EMOTIONS.index("neutral")

DEFAULT_MAX_LENGTH = 128
"""Longest token sequence (including [CLS] and [SEP]) when the card names none."""
CONTEXT_WORDS = 24
"""Words of the previous utterance a context-reading model sees (its last ones), unless its card
says otherwise (``context.max_words``)."""

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


def clip_text(text: str, max_chars: int) -> tuple[str, bool]:
    """``text`` normalised (:func:`normalize_text`) and cut to at most ``max_chars`` characters,
    and whether it was cut. Only the first ``2 * max_chars + 1024`` characters are ever read, so a
    20 MB line costs no more than a short one. The words model reads at most its
    ``max_length`` tokens (128: a few hundred characters) anyway.

    Raises:
        InputError: ``text`` is not a ``str``.
    """
    if not isinstance(text, str):
        raise InputError(f"text must be a string, got {type(text).__name__}")
    head = text[: 2 * max_chars + 1024]
    clean = normalize_text(head)
    cut = len(clean) > max_chars or (len(text) > len(head) and bool(text[len(head) :].strip()))
    return clean[:max_chars].rstrip(), cut


def clip_context(context: str, max_words: int = CONTEXT_WORDS) -> str:
    """The last ``max_words`` words of the normalised previous utterance ("" for none)."""
    words = normalize_text(context).split(" ")
    return " ".join(words[-max_words:]) if max_words > 0 else ""


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
        settings: runtime settings (model name, threads, ``max_text_chars``: longer text is cut
            there before tokenizing, :func:`clip_text`).

    Raises:
        ModelError: the model, its card or its tokenizer is missing or corrupt, or the
            card lists other labels.

    A model whose card has a ``context`` entry reads the previous utterance of the conversation
    as a second segment (``[CLS] text [SEP] context [SEP]``, the context clipped to its last
    ``context.max_words`` words); :attr:`reads_context` says so. Other models ignore context.

    Context guard: the previous utterance may change a label only with evidence. When the card
    has ``context_guard`` (``confident``, ``override``; chosen on MELD and DailyDialog dev by
    ``training/context_flips.py``), a text whose label without context has a top probability of at
    least ``confident`` keeps that label's probabilities, unless the probabilities with context
    have a top of at least ``override``: on the dev sets, context flipped such confident labels to
    a wrong one more often than to the right one. It costs a second, context-free pass for the
    texts that have a context.

    Typed text: text a person typed (a text file's lines, ``POST /v1/text`` without a context)
    is read with ``typed=True``. When the card has ``typed_text.neutral_offset`` (chosen by
    ``training/neutral_levers.py``: on data sets left out of training, typed emotional text
    otherwise read as neutral 48-57% of the time), that offset is added to the neutral
    log-probability of such text before renormalising. Transcripts of speech are read as trained.

    ``predict`` and ``predict_batch`` are safe to call from several threads at once
    (the tokenizer's padding/truncation state is set once here, encoding is guarded
    by a lock, and onnxruntime sessions are thread-safe).
    """

    def __init__(self, model_path: Path | None = None, settings: Settings | None = None):
        settings = settings or Settings.from_env()
        path = Path(model_path) if model_path is not None else settings.model_path(settings.text_model)
        self.model = OnnxModel(path, threads=settings.ort_threads, output="probabilities")
        self.max_length = int(self.model.card.get("max_length", DEFAULT_MAX_LENGTH))
        self.max_chars = int(settings.max_text_chars)
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
        ctx = self.model.card.get("context") or {}
        self.reads_context = bool(ctx)
        self.context_words = int(ctx.get("max_words", CONTEXT_WORDS))
        guard = self.model.card.get("context_guard") or {}
        self.context_guard: tuple[float, float] | None = (
            (float(guard["confident"]), float(guard["override"])) if self.reads_context and guard else None
        )
        """(confident, override) of the context guard (see above), or None."""
        self.typed_neutral_offset = float((self.model.card.get("typed_text") or {}).get("neutral_offset", 0.0))
        """Offset added to the neutral log-probability of typed text without context (see above)."""

    @property
    def name(self) -> str:
        return self.model.name

    def encode(self, texts: Sequence[str], contexts: Sequence[str | None] | None = None) -> dict[str, np.ndarray]:
        """Model inputs for ``texts``: ``input_ids`` and ``attention_mask``, int64
        [n, T], padded to the longest and truncated (longest segment first) to
        :attr:`max_length` tokens. A text (and a context) is first cut to :attr:`max_chars`
        characters (:func:`clip_text`). ``contexts``: the utterance before each text (None or ""
        for none); used only when :attr:`reads_context`.

        Raises:
            InputError: a text is not a ``str``, or is empty or whitespace only; a context is
                neither a ``str`` nor None; ``contexts`` and ``texts`` differ in length.
        """
        if contexts is not None and len(contexts) != len(texts):
            raise InputError(f"{len(texts)} texts but {len(contexts)} contexts")
        clean: list = []
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise InputError(f"text {i} must be a string, got {type(text).__name__}")
            t, _ = clip_text(text, self.max_chars)
            if not t:
                raise InputError("text is empty" if len(texts) == 1 else f"text {i} is empty")
            c = None if contexts is None else contexts[i]
            if c is not None and not isinstance(c, str):
                raise InputError(f"context {i} must be a string or None, got {type(c).__name__}")
            c = clip_context(clip_text(c, self.max_chars)[0], self.context_words) if (c and self.reads_context) else ""
            clean.append((t, c) if c else t)
        with self._lock:
            enc = self.tokenizer.encode_batch(clean)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        return {"input_ids": ids, "attention_mask": mask}

    def predict_batch(
        self,
        texts: Sequence[str],
        contexts: Sequence[str | None] | None = None,
        guard: bool = True,
        typed: bool = False,
    ) -> np.ndarray:
        """Probabilities float32 [n, 7] (rows sum to 1, :data:`~emotion.labels.EMOTIONS`
        order) for ``texts``, in one ONNX call (two with contexts and the context guard);
        an empty list gives [0, 7]. ``contexts``: the previous utterance of each text's
        conversation (see :meth:`encode`); ``guard``: apply the context guard (the class's
        docstring) when the card has one; ``typed``: the texts were typed, not spoken, so those
        without a context get the card's typed-text neutral offset (the class's docstring).

        Raises:
            InputError: ``texts`` is a bare string, or a text is not a ``str`` or is empty, or a
                context is not a ``str``/None.
        """
        if isinstance(texts, str):
            raise InputError("predict_batch takes a list of strings; use predict for one string")
        if len(texts) == 0:
            return np.zeros((0, NUM_EMOTIONS), np.float32)
        probs = np.asarray(self.model.run(self.encode(list(texts), None if contexts is None else list(contexts))), np.float32)
        has_context = [bool(contexts is not None and contexts[i] and contexts[i].strip()) for i in range(len(texts))]
        if typed and self.typed_neutral_offset:
            probs = self._typed(probs, np.array(has_context))
        if not guard or self.context_guard is None or contexts is None:
            return probs
        with_context = [i for i, c in enumerate(has_context) if c]
        if not with_context:
            return probs
        alone = np.asarray(self.model.run(self.encode([texts[i] for i in with_context])), np.float32)
        confident, override = self.context_guard
        out = probs.copy()
        for row, i in zip(alone, with_context, strict=True):
            if row.max() >= confident and row.argmax() != probs[i].argmax() and probs[i].max() < override:
                out[i] = row
        return out

    def _typed(self, probs: np.ndarray, has_context: np.ndarray) -> np.ndarray:
        """``probs`` with the typed-text neutral offset applied to the rows without a context."""
        out = probs.copy()
        rows = ~has_context
        out[rows, NEUTRAL] *= np.float32(np.exp(self.typed_neutral_offset))
        out[rows] /= out[rows].sum(1, keepdims=True)
        return out

    def predict(self, text: str, context: str | None = None, typed: bool = False) -> np.ndarray:
        """Probabilities float32 (7,) (sum 1, EMOTIONS order) for one utterance; ``context``:
        the utterance before it in the same conversation, or None; ``typed``: typed text, not a
        transcript (:meth:`predict_batch`).

        Raises:
            InputError: ``text`` is not a ``str``, or is empty or whitespace only.
        """
        if not isinstance(text, str):
            raise InputError(f"text must be a string, got {type(text).__name__}")
        return self.predict_batch([text], [context], typed=typed)[0]
