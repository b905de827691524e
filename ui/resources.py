"""Models loaded once per server process (``st.cache_resource``) and shared by every session."""

from __future__ import annotations

import logging

import streamlit as st

from emotion.checks import model_problems
from emotion.config import Settings
from emotion.errors import ModelError
from emotion.face import FaceEmotionAnalyzer
from emotion.speech.acoustic import AcousticEmotionClassifier
from emotion.speech.analyzer import SpeechEmotionAnalyzer
from emotion.speech.transcribe import Transcriber
from emotion.text.semantic import TextEmotionClassifier

log = logging.getLogger(__name__)


@st.cache_resource(show_spinner="Checking the model files…")
def _model_problems(settings: Settings) -> list[str]:
    return model_problems(settings)


def stop_if_models_broken() -> None:
    """One error on the page listing every missing or corrupt model file (each named), and
    ``st.stop()``; nothing when all are fine. Checked once per server process and settings."""
    problems = _model_problems(Settings.from_env())
    if problems:
        log.error("model files missing or corrupt: %s", "; ".join(problems))
        lines = "\n".join(f"- `{p}`" for p in problems)
        st.error(f"Model files are missing or corrupt, so the app cannot run its models:\n\n{lines}")
        st.stop()


@st.cache_resource(show_spinner="Loading the face models…")
def _face_analyzer(settings: Settings) -> FaceEmotionAnalyzer:
    return FaceEmotionAnalyzer(settings=settings)


def face_analyzer() -> FaceEmotionAnalyzer:
    """The shared face analyzer (BlazeFace or Haar detector + ONNX expression classifier), one
    per server process and ``EMOTION_*`` settings."""
    return _face_analyzer(Settings.from_env())


def face_analyzer_or_stop() -> FaceEmotionAnalyzer:
    """:func:`face_analyzer`, or a clear error on the page and ``st.stop()``."""
    stop_if_models_broken()
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
def _speech_emotion_models(settings: Settings) -> tuple[AcousticEmotionClassifier, TextEmotionClassifier]:
    return AcousticEmotionClassifier(settings=settings), TextEmotionClassifier(settings=settings)


def speech_emotion_models() -> tuple[AcousticEmotionClassifier, TextEmotionClassifier]:
    """The shared acoustic (voice) and semantic (text) classifiers, one pair per server process
    and settings."""
    return _speech_emotion_models(Settings.from_env())


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
    stop_if_models_broken()
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
