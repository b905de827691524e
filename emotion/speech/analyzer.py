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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..config import FROM_SETTINGS, Default, Settings
from ..errors import InputError
from ..frozen import FrozenResult
from ..labels import EMOTIONS
from ..schema import AcousticStatus, TranscriptStatus
from .audio import AudioSource, iter_audio_blocks, probe_audio
from .transcribe import Transcriber, Transcript
from .vad import SpeechSegment, UtteranceSegmenter

if TYPE_CHECKING:
    from ..text.semantic import TextEmotionClassifier
    from .acoustic import AcousticEmotionClassifier

log = logging.getLogger(__name__)


def _label(p: np.ndarray | None) -> str | None:
    return None if p is None else EMOTIONS[int(np.argmax(p))]


@dataclass(frozen=True, eq=False)
class Utterance(FrozenResult):
    """One utterance and its emotions.

    Attributes:
        start_s, end_s: media time in seconds (the file's own timeline, or the live session's
            clock; see :mod:`emotion.media`).
        text: Whisper transcript ("" when nothing intelligible was said).
        semantic: float32 (7,) emotion of the words, or None (no text, or text model off).
        acoustic: float32 (7,) emotion of the voice, or None (acoustic model off).
        Both in :data:`emotion.labels.EMOTIONS` order.
        acoustic_status: :class:`~emotion.schema.AcousticStatus`: ``uncertain`` when the voice
            model's top probability is below its card's ``uncertain_below`` (pages show
            "uncertain", and fusion gives the voice little weight); None without ``acoustic``.
        language: ISO 639-1 code of the speech (Whisper's; "en" for English-only models).
        translation: Whisper's English translation when the speech is not English ("" otherwise);
            the words' emotion is read from it.
        transcript_status: :class:`~emotion.schema.TranscriptStatus`: ``unreliable`` when an
            English-only Whisper model did not recognise the speech as English (probably another
            language): ``text`` is not what was said, and the words get no emotion (``semantic``
            is None).
    """

    start_s: float
    end_s: float
    text: str
    semantic: np.ndarray | None
    acoustic: np.ndarray | None
    acoustic_status: AcousticStatus | None = None
    language: str = "en"
    translation: str = ""
    transcript_status: TranscriptStatus = TranscriptStatus.RELIABLE

    def __post_init__(self):
        super().__post_init__()
        if self.acoustic_status is not None:
            object.__setattr__(self, "acoustic_status", AcousticStatus(self.acoustic_status))
        object.__setattr__(self, "transcript_status", TranscriptStatus(self.transcript_status))

    @property
    def acoustic_uncertain(self) -> bool:
        """Whether :attr:`acoustic_status` is ``uncertain``."""
        return self.acoustic_status is AcousticStatus.UNCERTAIN

    @property
    def transcript_unreliable(self) -> bool:
        """Whether :attr:`transcript_status` is ``unreliable``."""
        return self.transcript_status is TranscriptStatus.UNRELIABLE

    @property
    def semantic_label(self) -> str | None:
        return _label(self.semantic)

    @property
    def acoustic_label(self) -> str | None:
        """The most probable voice label (also when uncertain: :attr:`acoustic_status` says so;
        :func:`emotion.display.acoustic_label` is what the pages show)."""
        return _label(self.acoustic)

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
            "acoustic_status": None if self.acoustic_status is None else self.acoustic_status.value,
            "acoustic": probs(self.acoustic),
            "language": self.language,
            "translation": self.translation,
            "transcript_status": self.transcript_status.value,
        }


@dataclass
class Conversation:
    """What the analysis of one stream (START to STOP) or one file carries from one utterance to
    the next: the voice normaliser (:class:`~emotion.speech.normalize.SessionNormalizer`, or None)
    and the English words of the last utterance that had any, which the text model reads as
    context. One analysis thread at a time uses it."""

    voice: object | None = None
    previous: str = field(default="")


class SpeechEmotionAnalyzer:
    """Orchestrates the speech models over utterances.

    Args:
        transcriber: a :class:`~emotion.speech.transcribe.Transcriber`, or None (no text).
        acoustic: an :class:`~emotion.speech.acoustic.AcousticEmotionClassifier`, or None.
        semantic: a :class:`~emotion.text.semantic.TextEmotionClassifier`, or None.

    Thread-safe when its models are (they are: onnxruntime sessions; the transcriber locks).
    """

    def __init__(
        self,
        transcriber: Transcriber | None = None,
        acoustic: AcousticEmotionClassifier | None = None,
        semantic: TextEmotionClassifier | None = None,
    ):
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

    def new_conversation(self) -> Conversation:
        """The state one stream or file carries between its utterances (a fresh voice
        normaliser when the acoustic model has one, and no previous words)."""
        return Conversation(self.acoustic.new_session() if self.acoustic else None)

    def analyze_segment(self, segment: SpeechSegment, conversation: Conversation | None = None) -> Utterance:
        """Transcript, acoustic and semantic emotion of one utterance.

        ``conversation`` (:meth:`new_conversation`): the stream's or file's earlier utterances,
        whose voice features standardise this one's and whose last words are the text model's
        context; it is updated with this utterance. None: the utterance stands alone.
        """
        if self.transcriber:
            t = self.transcriber.transcribe(segment.samples)
        else:
            t = Transcript("", "en")
        voice = conversation.voice if conversation else None
        acoustic = self.acoustic.predict(segment.samples, session=voice) if self.acoustic else None
        words = t.english.strip()
        semantic = None
        if self.semantic and words:
            semantic = self.semantic.predict(words, conversation.previous if conversation else None)
            if conversation:
                conversation.previous = words
        status = None
        if acoustic is not None:
            status = AcousticStatus.UNCERTAIN if self.acoustic.is_uncertain(acoustic) else AcousticStatus.CONFIDENT
        return Utterance(
            segment.start_s,
            segment.end_s,
            t.text,
            semantic,
            acoustic,
            acoustic_status=status,
            language=t.language,
            translation=t.translation,
            transcript_status=TranscriptStatus.UNRELIABLE if t.unreliable else TranscriptStatus.RELIABLE,
        )

    def analyze_text(self, text: str, context: str | None = None) -> np.ndarray:
        """Semantic emotion float32 (7,) of typed text; ``context``: the sentence before it, if any
        (without one, the text card's typed-text neutral offset applies:
        :class:`~emotion.text.semantic.TextEmotionClassifier`).

        Raises:
            InputError: empty text, or no text model loaded.
        """
        if self.semantic is None:
            raise InputError("no text emotion model is loaded")
        return self.semantic.predict(text, context, typed=True)

    def analyze_file(
        self,
        source: AudioSource,
        progress: Callable[[float, float], None] | None = None,
        chunk_s: float = 30.0,
        segmenter: UtteranceSegmenter | None = None,
        on_note: Callable[[str], None] | None = None,
        max_seconds: float | Default | None = FROM_SETTINGS,
    ) -> Iterator[Utterance]:
        """Utterances of an audio (or video) file, in order, as they are found.

        The file is decoded in blocks of up to ``chunk_s`` seconds and cut by VAD, so memory
        stays bounded for any duration. Utterance times are media times: seconds on the file's
        own timeline (:mod:`emotion.media`), so audio that starts late in a video starts late
        here too, and a gap in the audio stays a gap. ``progress(done_s, total_s)`` is called
        after every utterance and every decoded block, with the seconds of audio done (``total_s``
        is 0 when the container does not give a duration).
        ``on_note(message)`` hears about trouble that did not stop the analysis (packets that
        could not be decoded, a file that could not be read to its end, the duration limit).
        ``max_seconds``: the longest media time analysed (default: ``EMOTION_MAX_MEDIA_SECONDS``,
        :attr:`~emotion.config.Settings.max_media_seconds`; None: no limit): a file stating a longer
        duration is refused, audio past it is not analysed (see :func:`~.audio.iter_audio_blocks`).

        Raises:
            InputError: not an accepted media file, no audio track, corrupt, longer than
                ``max_seconds``, or no samples at all.
        """
        if max_seconds is FROM_SETTINGS:
            max_seconds = Settings.from_env().max_media_seconds
        info = probe_audio(source)
        total = info.duration_s or 0.0
        segmenter = segmenter or UtteranceSegmenter()
        conversation = self.new_conversation()  # the file is one conversation: one voice session, context
        decoded = 0
        reported = 0.0  # seconds done so far: never goes back

        def report(done_s: float) -> None:
            nonlocal reported
            reported = max(reported, done_s)
            if progress:
                progress(reported, max(total, segmenter.stream_seconds))

        for block in iter_audio_blocks(source, chunk_s=chunk_s, on_note=on_note, max_seconds=max_seconds):
            decoded += len(block.samples)
            for seg in segmenter.push(block.samples, block.start_s):
                yield self.analyze_segment(seg, conversation)
                report(seg.end_s)  # after each utterance too: a block holds many seconds of work
            report(segmenter.stream_seconds)
        if decoded == 0:
            raise InputError("the file contains no audio samples")
        for seg in segmenter.flush():
            yield self.analyze_segment(seg, conversation)
            report(seg.end_s)
        if progress:
            progress(segmenter.stream_seconds, segmenter.stream_seconds)


def language_note(utterances) -> str | None:
    """What the pages say about the language of ``utterances`` (:class:`Utterance`), or None when
    there is nothing to say: how many were not recognised as English by an English-only Whisper
    model, and which other languages a multilingual model heard and translated."""
    us = list(utterances)
    notes = []
    bad = sum(1 for u in us if u.transcript_unreliable)
    if bad:
        notes.append(
            f"{bad} of {len(us)} utterance{'s' if len(us) != 1 else ''} did not sound like English to the Whisper model, "
            "which knows English only: their transcripts are not what was said, and their words get no emotion. "
            "For other languages choose a multilingual Whisper model (base) in the sidebar."
        )
    other = sorted({u.language for u in us if u.translation and u.language != "en"})
    if other:
        notes.append(
            f"Speech in another language ({', '.join(other)}) was transcribed in that language and translated to "
            "English by Whisper; "
            "the words' emotion is read from the translation."
        )
    return " ".join(notes) or None
