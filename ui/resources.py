"""Models loaded once per server process (``st.cache_resource``) and shared by every session."""

from __future__ import annotations

import logging

import streamlit as st

from emotion.config import Settings
from emotion.errors import ModelError
from emotion.face import FaceEmotionAnalyzer
from emotion.speech.analyzer import SpeechEmotionAnalyzer

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


@st.cache_resource(show_spinner="Loading the speech models (Whisper, acoustic, text)…")
def speech_analyzer() -> SpeechEmotionAnalyzer:
    """The shared speech models: Whisper transcriber, acoustic and semantic classifiers."""
    return SpeechEmotionAnalyzer.from_settings(Settings.from_env())


def speech_analyzer_or_stop() -> SpeechEmotionAnalyzer:
    """:func:`speech_analyzer`, or a clear error on the page and ``st.stop()``."""
    try:
        analyzer = speech_analyzer()
    except (ModelError, ValueError) as exc:
        log.error("speech models could not be loaded: %s", exc)
        st.error(f"The speech models could not be loaded: {exc}")
        st.stop()
    if analyzer.transcriber is not None and analyzer.transcriber.warning:
        st.warning(analyzer.transcriber.warning)
    return analyzer
