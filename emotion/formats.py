"""The kinds of input the library analyses and the file extensions each comes as.

Light: imports neither PyAV nor OpenCV, so the CLI's help, batch input discovery and the pages'
upload widgets can use it without loading a decoder. What is actually decoded is decided by the
decoders themselves (:mod:`emotion.images` for photos, :mod:`emotion.media` for audio and video,
with their container and codec allow-lists); an extension only chooses which one is asked.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Literal

Kind = Literal["image", "audio", "video", "text"]
"""What a file holds: a photo, speech, a video (with or without a soundtrack), UTF-8 text."""

KINDS: tuple[Kind, ...] = ("image", "audio", "video", "text")

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp", "bmp")
AUDIO_EXTENSIONS = ("wav", "mp3", "m4a", "ogg", "flac", "webm")
VIDEO_EXTENSIONS = ("mp4", "mov", "webm", "avi", "mkv")
TEXT_EXTENSIONS = ("txt",)
"""A text file: one utterance per line (the line number stands for its time)."""

EXTENSIONS: dict[Kind, tuple[str, ...]] = {
    "image": IMAGE_EXTENSIONS,
    "audio": AUDIO_EXTENSIONS,
    "video": VIDEO_EXTENSIONS,
    "text": TEXT_EXTENSIONS,
}


def extension(name: str) -> str:
    """The lower-case extension of a file name or URI, without its dot ("" when none)."""
    return PurePosixPath(str(name)).suffix.lower().lstrip(".")


def media_kind_of(name: str) -> Kind | None:
    """``image``, ``video`` or ``audio`` from a file name's extension, or None (text and
    anything else). An extension both kinds use (``webm``) is ``video``: a file with no video
    stream is then read as audio (:func:`emotion.analysis.analyze`)."""
    ext = extension(name)
    if ext in IMAGE_EXTENSIONS:
        return "image"
    if ext in VIDEO_EXTENSIONS:
        return "video"
    if ext in AUDIO_EXTENSIONS:
        return "audio"
    return None


def kind_of(name: str) -> Kind | None:
    """:func:`media_kind_of`, and ``text`` for ``.txt``."""
    return media_kind_of(name) or ("text" if extension(name) in TEXT_EXTENSIONS else None)


def accepted_extensions() -> str:
    """Every media extension, comma-separated, for messages."""
    return ", ".join(dict.fromkeys(IMAGE_EXTENSIONS + VIDEO_EXTENSIONS + AUDIO_EXTENSIONS))
