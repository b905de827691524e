"""Words for people: the one place that turns the result statuses (:mod:`emotion.schema`) and
the modality names into the text the pages and the CLI show.

Plain text only: the callers show it as text, never as HTML.
"""

from __future__ import annotations

from .schema import AcousticStatus, FaceStatus, SpeechStatus, TranscriptStatus

MODALITY_TITLES: dict[str, str] = {"face": "Face", "semantic": "Words (semantic)", "acoustic": "Voice (acoustic)"}
"""Each modality's title on the pages (:data:`emotion.schema.MODALITIES`)."""

MODALITY_SHORT: dict[str, str] = {"face": "face", "semantic": "words", "acoustic": "voice"}
"""Each modality in one word, for tight places (a table cell, a terminal line)."""

FACE_STATUS_TEXT: dict[FaceStatus, str] = {
    FaceStatus.READ: "",
    FaceStatus.TURNED_AWAY: "face turned away",
    FaceStatus.TOO_SMALL: "face too small",
    FaceStatus.TOO_BLURRED: "face too blurred",
}
UNCERTAIN = "uncertain"
"""What is shown instead of the voice's label when :attr:`AcousticStatus.UNCERTAIN`."""
NOT_ENGLISH = "not English?"
"""What is shown for the language of a :attr:`TranscriptStatus.UNRELIABLE` transcript."""
NONE = "–"
"""An empty cell: no result for that modality."""
HIDDEN_TRANSCRIPT = "(not English? transcript hidden)"
"""What stands in a table or a transcript line for a :attr:`TranscriptStatus.UNRELIABLE`
transcript: its words are not what was said (the pages let a person open it, collapsed below)."""
NO_WORDS = "(no words recognised)"
"""What stands for an empty transcript."""


def seconds(t: float, digits: int = 1) -> str:
    """A media time for the page, e.g. ``"12.3"`` (``digits`` decimals; never ``"-0.0"``: a time
    a float error put just below 0 s shows as 0)."""
    return f"{round(float(t), digits) + 0.0:.{digits}f}"


def transcript(text: str, status: TranscriptStatus | str | None) -> str:
    """An utterance's transcript as the pages show it in a line or a table cell: the text,
    :data:`NO_WORDS` when empty, or :data:`HIDDEN_TRANSCRIPT` when it is unreliable."""
    if status and TranscriptStatus(status) is TranscriptStatus.UNRELIABLE:
        return HIDDEN_TRANSCRIPT
    return text or NO_WORDS


def face_label(label: str | None, status: FaceStatus | str | None) -> str:
    """A face's label, or why its expression was not read ("face too blurred")."""
    status = FaceStatus(status) if status else FaceStatus.READ
    return (label or NONE) if status is FaceStatus.READ else FACE_STATUS_TEXT[status]


def acoustic_label(label: str | None, status: AcousticStatus | str | None) -> str:
    """The voice's label, :data:`UNCERTAIN`, or :data:`NONE` when there is no voice result."""
    if label is None:
        return NONE
    return UNCERTAIN if status and AcousticStatus(status) is AcousticStatus.UNCERTAIN else label


def semantic_label(label: str | None) -> str:
    """The words' label, or :data:`NONE`."""
    return label or NONE


def language(code: str, status: TranscriptStatus | str | None) -> str:
    """An utterance's language: its ISO 639-1 code, or :data:`NOT_ENGLISH` for an unreliable transcript."""
    return NOT_ENGLISH if status and TranscriptStatus(status) is TranscriptStatus.UNRELIABLE else code


def speech(status: SpeechStatus | str | None, heard_s: float | None = None) -> str:
    """Why a file has no utterance ("no speech found in 12 s of audio"), or "" when it has some
    (or is not audio)."""
    if not status:
        return ""
    status = SpeechStatus(status)
    if status is SpeechStatus.NO_SPEECH:
        return "no speech found" + (f" in {heard_s:.0f} s of audio" if heard_s is not None else "")
    return {
        SpeechStatus.SPEECH: "",
        SpeechStatus.NO_AUDIO: "no audio track",
        SpeechStatus.FAILED: "the soundtrack could not be analysed (see the notes)",
        SpeechStatus.NOT_ANALYSED: "no speech analyzer",
    }[status]


def utterance_line(utterance, fused=None) -> str:
    """One utterance's emotions in one line, each part with its own probability, so no figure
    can be read as another's: ``"words: neutral 71% · voice: uncertain · fused with the face:
    happy 62%"``. ``utterance``: an :class:`~emotion.speech.analyzer.Utterance`; ``fused``: its
    :class:`~emotion.fusion.FusedEstimate` (face + words + voice), or None."""

    def part(label: str, probabilities) -> str:
        return label if probabilities is None or label in (NONE, UNCERTAIN) else f"{label} {float(max(probabilities)):.0%}"

    parts = [
        f"words: {part(semantic_label(utterance.semantic_label), utterance.semantic)}",
        f"voice: {part(acoustic_label(utterance.acoustic_label, utterance.acoustic_status), utterance.acoustic)}",
    ]
    if fused is not None:
        with_face = "face" in fused.weights
        parts.append(f"fused{' with the face' if with_face else ''}: {fused.label} {fused.score:.0%}")
    return " · ".join(parts)
