"""The models of the file analyses (:class:`Analyzers`): each loaded once, on first use, from
:class:`~emotion.config.Settings`, shared by every :func:`emotion.analysis.analyze` call given
the same object (the CLI's loop, a batch worker, the pages' cached resources)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Collection
from typing import TYPE_CHECKING

from .config import Settings
from .schema import MODALITIES

if TYPE_CHECKING:  # the models load on first use, not on import
    from .face.analyzer import FaceEmotionAnalyzer
    from .speech.analyzer import SpeechEmotionAnalyzer
    from .text.semantic import TextEmotionClassifier


class Analyzers:
    """Every model the file analyses need, each loaded once, on first use, from ``settings``.

    Args:
        settings: what to load (default :meth:`Settings.from_env`).
        threads: CPU threads per model (onnxruntime intra-op, Whisper's CTranslate2); default
            ``settings.ort_threads`` for the ONNX models and 2 for Whisper.
        faces: a face analyzer already loaded elsewhere (the pages' cached resources), used
            instead of loading one again.
        speech: a speech analyzer already loaded elsewhere, likewise.
        text: a words' model already loaded elsewhere, likewise.

    Thread-safe: two threads asking for the same model at once load it once.

    Raises:
        ModelError: (on first use of a model) its file is missing or corrupt.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        threads: int | None = None,
        *,
        faces: FaceEmotionAnalyzer | None = None,
        speech: SpeechEmotionAnalyzer | None = None,
        text: TextEmotionClassifier | None = None,
    ):
        settings = settings or Settings.from_env()
        if threads is not None:
            settings = settings.replace(ort_threads=threads)
        self.settings = settings
        self.threads = threads
        self._lock = threading.Lock()
        self._faces, self._speech, self._text = faces, speech, text
        self._video = None

    @property
    def faces(self):
        """The :class:`~emotion.face.analyzer.FaceEmotionAnalyzer`."""
        with self._lock:
            if self._faces is None:
                from .face import FaceEmotionAnalyzer

                self._faces = FaceEmotionAnalyzer(settings=self.settings)
            return self._faces

    @property
    def text(self):
        """The words' model, :class:`~emotion.text.semantic.TextEmotionClassifier` (the speech
        analyzer's own when it is loaded)."""
        with self._lock:
            if self._text is None:
                if self._speech is not None and self._speech.semantic is not None:
                    self._text = self._speech.semantic
                else:
                    from .text.semantic import TextEmotionClassifier

                    self._text = TextEmotionClassifier(settings=self.settings)
            return self._text

    @property
    def speech(self):
        """The :class:`~emotion.speech.analyzer.SpeechEmotionAnalyzer` (Whisper, the voice model
        and the words' model)."""
        text = self.text if self._speech is None else None
        with self._lock:
            if self._speech is None:
                from .speech.acoustic import AcousticEmotionClassifier
                from .speech.analyzer import SpeechEmotionAnalyzer
                from .speech.transcribe import transcriber_from_settings

                self._speech = SpeechEmotionAnalyzer(
                    transcriber_from_settings(self.settings, threads=self.threads or 2),
                    AcousticEmotionClassifier(settings=self.settings),
                    text,
                )
            return self._speech

    @property
    def video(self):
        """The :class:`~emotion.video.VideoEmotionAnalyzer` over :attr:`faces` and :attr:`speech`."""
        faces, speech = self.faces, self.speech
        with self._lock:
            if self._video is None:
                from .video import VideoEmotionAnalyzer

                self._video = VideoEmotionAnalyzer(faces, speech)
            return self._video

    def selected(self, modalities: Collection[str] = MODALITIES, transcriber=None) -> Analyzers:
        """A view that analyses only ``modalities`` (of :data:`emotion.schema.MODALITIES`), over
        this object's models (loaded here once, shared): without ``face`` a video is heard only,
        without ``semantic`` nothing is transcribed, without ``acoustic`` the voice is not read.
        ``transcriber``: another Whisper model for the words (e.g. one a server allows by name).

        Raises:
            ValueError: an unknown modality, or none.
        """
        chosen = set(modalities)
        unknown = chosen - set(MODALITIES)
        if unknown or not chosen:
            raise ValueError(f"modalities must be some of {', '.join(MODALITIES)}, got {sorted(chosen) or 'none'}")
        return _Selected(self, frozenset(chosen), transcriber)


class _Selected(Analyzers):
    """:meth:`Analyzers.selected`'s view: the base's models, some modalities only."""

    def __init__(self, base: Analyzers, modalities: frozenset[str], transcriber):
        super().__init__(base.settings, base.threads)
        self.base, self.modalities, self._transcriber = base, modalities, transcriber

    @property
    def faces(self):
        return self.base.faces if "face" in self.modalities else None

    @property
    def text(self):
        return self.base.text if "semantic" in self.modalities else None

    @property
    def speech(self):
        if not self.modalities & {"semantic", "acoustic"}:
            return None
        with self._lock:
            if self._speech is None:
                from .speech.analyzer import SpeechEmotionAnalyzer

                base = self.base.speech
                semantic = "semantic" in self.modalities
                self._speech = SpeechEmotionAnalyzer(
                    (self._transcriber or base.transcriber) if semantic else None,
                    base.acoustic if "acoustic" in self.modalities else None,
                    base.semantic if semantic else None,
                )
            return self._speech

    @property
    def video(self):
        return super().video if "face" in self.modalities else None


@functools.lru_cache(maxsize=4)
def default_analyzers(settings: Settings) -> Analyzers:
    """One :class:`Analyzers` per ``settings`` for this process (what :func:`analyze` uses when
    it is given none)."""
    return Analyzers(settings)
