"""Models loaded once per server process (``st.cache_resource``) and shared by every session."""

from __future__ import annotations

import logging

import streamlit as st

from emotion.config import Settings
from emotion.errors import ModelError
from emotion.face import FaceEmotionAnalyzer
from emotion.speech.acoustic import AcousticEmotionClassifier
from emotion.speech.analyzer import SpeechEmotionAnalyzer
from emotion.speech.transcribe import Transcriber
from emotion.text.semantic import TextEmotionClassifier

log = logging.getLogger(__name__)


@st.cache_resource(show_spinner="Loading the face models…")
def face_analyzer() -> FaceEmotionAnalyzer:
    """The shared face analyzer (Haar detector + ONNX classifier)."""
    return FaceEmotionAnalyzer(settings=Settings.from_env())


def face_analyzer_or_stop() -> FaceEmotionAnalyzer:
    """:func:`face_analyzer`, or a clear error on the page and ``st.stop()``."""
    try:
        return face_analyzer()
    except (ModelError, ValueError) as exc:
        log.error("face models could not be loaded: %s", exc)
        st.error(f"The face models could not be loaded: {exc}")
        st.stop()


WHISPER_MODELS = ("", "tiny.en", "base.en", "small.en", "tiny", "base", "small", "medium", "large-v3")
"""Whisper models offered in the sidebar; "" is the bundled tiny.en (offline). Others are
downloaded by faster-whisper on first use when the machine has a network."""


@st.cache_resource(show_spinner="Loading the Whisper model…")
def transcriber(model: str) -> Transcriber:
    """A Whisper transcriber per model name, loaded once; falls back to the bundled model (with a warning)."""
    return Transcriber(model, Settings.from_env().whisper_backend)


@st.cache_resource(show_spinner="Loading the acoustic and text emotion models…")
def speech_emotion_models() -> tuple[AcousticEmotionClassifier, TextEmotionClassifier]:
    """The shared acoustic (voice) and semantic (text) classifiers."""
    settings = Settings.from_env()
    return AcousticEmotionClassifier(settings=settings), TextEmotionClassifier(settings=settings)


def whisper_model_choice() -> str:
    """The Whisper model chosen in the sidebar (default: ``EMOTION_WHISPER_MODEL`` or the bundled tiny.en)."""
    default = Settings.from_env().whisper_model
    options = list(WHISPER_MODELS) if default in WHISPER_MODELS else [default, *WHISPER_MODELS]
    return st.sidebar.selectbox(
        "Whisper model",
        options,
        index=options.index(default),
        format_func=lambda m: "tiny.en (bundled, offline)" if m == "" else m,
        help="Bigger models transcribe better and slower; they are downloaded on first use and need a network.",
        key="whisper_model",
    )


def speech_analyzer_or_stop() -> SpeechEmotionAnalyzer:
    """The speech models with the sidebar's Whisper model, or a clear error on the page and ``st.stop()``."""
    model = whisper_model_choice()
    try:
        acoustic, semantic = speech_emotion_models()
        whisper = transcriber(model)
    except (ModelError, ValueError) as exc:
        log.error("speech models could not be loaded: %s", exc)
        st.error(f"The speech models could not be loaded: {exc}")
        st.stop()
    if whisper.warning:
        st.warning(whisper.warning)
    return SpeechEmotionAnalyzer(whisper, acoustic, semantic)
