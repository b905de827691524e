"""Speech emotion of utterances: Whisper transcript, acoustic emotion (the voice) and
semantic emotion (the words), for live segments and for whole files.

Example (no Streamlit needed)::

    from emotion.speech.analyzer import SpeechEmotionAnalyzer
    analyzer = SpeechEmotionAnalyzer.from_settings()
    for u in analyzer.analyze_file("speech.mp3"):
        print(u.start_s, u.end_s, u.text, u.semantic_label, u.acoustic_label)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from ..config import Settings
from ..errors import InputError
from ..labels import EMOTIONS
from .audio import AudioSource, iter_audio_blocks, probe_audio
from .vad import SpeechSegment, UtteranceSegmenter

log = logging.getLogger(__name__)


def _label(p: np.ndarray | None) -> str | None:
    return None if p is None else EMOTIONS[int(np.argmax(p))]


@dataclass(frozen=True)
class Utterance:
    """One utterance and its emotions.

    Attributes:
        start_s, end_s: media time in seconds (the file's own timeline, or the live session's
            clock; see :mod:`emotion.media`).
        text: Whisper transcript ("" when nothing intelligible was said).
        semantic: float32 (7,) emotion of the words, or None (no text, or text model off).
        acoustic: float32 (7,) emotion of the voice, or None (acoustic model off).
        Both in :data:`emotion.labels.EMOTIONS` order.
        acoustic_uncertain: the voice model's top probability is below its card's
            ``uncertain_below``: pages show "uncertain", and fusion gives the voice little weight.
    """

    start_s: float
    end_s: float
    text: str
    semantic: np.ndarray | None
    acoustic: np.ndarray | None
    acoustic_uncertain: bool = False

    @property
    def semantic_label(self) -> str | None:
        return _label(self.semantic)

    @property
    def acoustic_label(self) -> str | None:
        """The most probable voice label (also when uncertain; see :attr:`acoustic_shown`)."""
        return _label(self.acoustic)

    @property
    def acoustic_shown(self) -> str | None:
        """What the pages show for the voice: its label, ``"uncertain"``, or None."""
        return "uncertain" if (self.acoustic is not None and self.acoustic_uncertain) else self.acoustic_label

    def to_dict(self) -> dict:
        """JSON-ready: times, text, labels and one probability per label for each modality."""

        def probs(p):
            return None if p is None else {e: round(float(v), 4) for e, v in zip(EMOTIONS, p, strict=True)}

        return {
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "text": self.text,
            "semantic_label": self.semantic_label,
            "semantic": probs(self.semantic),
            "acoustic_label": self.acoustic_label,
            "acoustic_uncertain": bool(self.acoustic_uncertain) if self.acoustic is not None else None,
            "acoustic": probs(self.acoustic),
        }


class SpeechEmotionAnalyzer:
    """Orchestrates the speech models over utterances.

    Args:
        transcriber: a :class:`~emotion.speech.transcribe.Transcriber`, or None (no text).
        acoustic: an :class:`~emotion.speech.acoustic.AcousticEmotionClassifier`, or None.
        semantic: a :class:`~emotion.text.semantic.TextEmotionClassifier`, or None.

    Thread-safe when its models are (they are: onnxruntime sessions; the transcriber locks).
    """

    def __init__(self, transcriber=None, acoustic=None, semantic=None):
        self.transcriber = transcriber
        self.acoustic = acoustic
        self.semantic = semantic

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> SpeechEmotionAnalyzer:
        """Every speech model, as configured by the ``EMOTION_*`` settings.

        Raises:
            ModelError: a model file is missing or corrupt.
        """
        from ..text.semantic import TextEmotionClassifier
        from .acoustic import AcousticEmotionClassifier
        from .transcribe import transcriber_from_settings

        settings = settings or Settings.from_env()
        return cls(
            transcriber_from_settings(settings),
            AcousticEmotionClassifier(settings=settings),
            TextEmotionClassifier(settings=settings),
        )

    def new_voice_session(self):
        """A per-session voice normaliser (:class:`~emotion.speech.normalize.SessionNormalizer`)
        for one stream or file, or None (no acoustic model, or one without normalisation)."""
        return self.acoustic.new_session() if self.acoustic else None

    def analyze_segment(self, segment: SpeechSegment, voice_session=None) -> Utterance:
        """Transcript, acoustic and semantic emotion of one utterance.

        ``voice_session`` (:meth:`new_voice_session`) collects the voice features of the
        stream's or file's utterances, which standardise this one; None: a session of its own.
        """
        text = self.transcriber.transcribe(segment.samples).text if self.transcriber else ""
        acoustic = self.acoustic.predict(segment.samples, session=voice_session) if self.acoustic else None
        semantic = self.semantic.predict(text) if (self.semantic and text.strip()) else None
        uncertain = bool(self.acoustic.is_uncertain(acoustic)) if self.acoustic else False
        return Utterance(segment.start_s, segment.end_s, text, semantic, acoustic, uncertain)

    def analyze_text(self, text: str) -> np.ndarray:
        """Semantic emotion float32 (7,) of typed text.

        Raises:
            InputError: empty text, or no text model loaded.
        """
        if self.semantic is None:
            raise InputError("no text emotion model is loaded")
        return self.semantic.predict(text)

    def analyze_file(
        self,
        source: AudioSource,
        progress: Callable[[float, float], None] | None = None,
        chunk_s: float = 30.0,
        segmenter: UtteranceSegmenter | None = None,
        on_note: Callable[[str], None] | None = None,
    ) -> Iterator[Utterance]:
        """Utterances of an audio (or video) file, in order, as they are found.

        The file is decoded in blocks of up to ``chunk_s`` seconds and cut by VAD, so memory
        stays bounded for any duration. Utterance times are media times: seconds on the file's
        own timeline (:mod:`emotion.media`), so audio that starts late in a video starts late
        here too, and a gap in the audio stays a gap. ``progress(done_s, total_s)`` is called
        after every block (``total_s`` is 0 when the container does not give a duration).
        ``on_note(message)`` hears about trouble that did not stop the analysis (packets that
        could not be decoded, a file that could not be read to its end).

        Raises:
            InputError: not an accepted media file, no audio track, corrupt, or no samples at all.
        """
        info = probe_audio(source)
        total = info.duration_s or 0.0
        segmenter = segmenter or UtteranceSegmenter()
        voice = self.new_voice_session()  # the file is one session: its utterances standardise each other
        decoded = 0
        for block in iter_audio_blocks(source, chunk_s=chunk_s, on_note=on_note):
            decoded += len(block.samples)
            for seg in segmenter.push(block.samples, block.start_s):
                yield self.analyze_segment(seg, voice)
            if progress:
                progress(segmenter.stream_seconds, max(total, segmenter.stream_seconds))
        if decoded == 0:
            raise InputError("the file contains no audio samples")
        for seg in segmenter.flush():
            yield self.analyze_segment(seg, voice)
        if progress:
            progress(segmenter.stream_seconds, segmenter.stream_seconds)
