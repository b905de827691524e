"""Models loaded once per server process (``st.cache_resource``) and shared by every session."""

from __future__ import annotations

import logging

import streamlit as st

from emotion.config import Settings
from emotion.errors import ModelError
from emotion.face import FaceEmotionAnalyzer

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
