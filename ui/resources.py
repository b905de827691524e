"""Models loaded once per server process (``st.cache_resource``) and shared by every session."""

from __future__ import annotations

import logging

import streamlit as st

from emotion.checks import model_problems
from emotion.config import Settings
from emotion.errors import ModelError
from emotion.face import FaceEmotionAnalyzer
from emotion.memory import keep_large_blocks_returnable, limit_arenas, start_memory_trimmer
from emotion.slots import AnalysisSlots, analysis_slots
from emotion.speech.acoustic import AcousticEmotionClassifier
from emotion.speech.analyzer import SpeechEmotionAnalyzer
from emotion.speech.pool import TranscriberPool
from emotion.speech.transcribe import Transcriber, describe_model, menu_models
from emotion.text.semantic import TextEmotionClassifier

log = logging.getLogger(__name__)


def settings() -> Settings:
    """The ``EMOTION_*`` settings of this server. Unless ``EMOTION_HOSTED`` says otherwise, a
    server listening on anything but a loopback address (Streamlit's default: every interface)
    is a hosted deployment (:meth:`~emotion.config.Settings.from_env`)."""
    address = st.get_option("server.address")
    return Settings.from_env(server_address=str(address or ""))


@st.cache_resource
def _process_memory() -> bool:
    """Once per server process: glibc's heap arenas are capped (many threads fragmenting many
    arenas made a live server's memory grow), large buffers are returned to the operating system
    when freed, and a trimmer hands back what closed sessions leave (:mod:`emotion.memory`)."""
    limit_arenas()
    keep_large_blocks_returnable()
    start_memory_trimmer()
    return True


def file_analysis_slots() -> AnalysisSlots:
    """The server's one bound on file analyses at once (``EMOTION_MAX_CONCURRENT_ANALYSES``,
    ``EMOTION_MAX_QUEUED_ANALYSES``), shared by every page and session."""
    _process_memory()
    s = settings()
    return analysis_slots(s.max_concurrent_analyses, s.max_queued_analyses)


@st.cache_resource(show_spinner="Checking the model files…")
def _model_problems(settings: Settings) -> list[str]:
    return model_problems(settings)


def stop_if_models_broken() -> None:
    """One error on the page listing every missing or corrupt model file (each named), and
    ``st.stop()``; nothing when all are fine. Checked once per server process and settings."""
    _process_memory()  # every page passes here first: the allocator is set up early
    problems = _model_problems(settings())
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
    return _face_analyzer(settings())


def face_analyzer_or_stop() -> FaceEmotionAnalyzer:
    """:func:`face_analyzer`, or a clear error on the page and ``st.stop()``."""
    stop_if_models_broken()
    try:
        return face_analyzer()
    except (ModelError, ValueError) as exc:
        log.error("face models could not be loaded: %s", exc)
        st.error(f"The face models could not be loaded: {exc}")
        st.stop()


@st.cache_resource
def _transcriber_pool(settings: Settings) -> TranscriberPool:
    return TranscriberPool(settings.whisper_allowed, settings.whisper_max_loaded, settings.whisper_backend)


def transcriber(model: str) -> tuple[Transcriber, str | None]:
    """The Whisper transcriber of ``model`` from the server's bounded pool, and None; or the
    bundled one and why ``model`` is not used (:meth:`~emotion.speech.pool.TranscriberPool.get`)."""
    with st.spinner(f"Loading the Whisper model {model or 'tiny.en (bundled)'}…"):
        return _transcriber_pool(settings()).get(model)


@st.cache_resource(show_spinner="Loading the acoustic and text emotion models…")
def _speech_emotion_models(settings: Settings) -> tuple[AcousticEmotionClassifier, TextEmotionClassifier]:
    return AcousticEmotionClassifier(settings=settings), TextEmotionClassifier(settings=settings)


def speech_emotion_models() -> tuple[AcousticEmotionClassifier, TextEmotionClassifier]:
    """The shared acoustic (voice) and semantic (text) classifiers, one pair per server process
    and settings."""
    return _speech_emotion_models(settings())


_FALLBACK_KEY = "whisper_model_fallback"


def whisper_model_choice() -> str:
    """The Whisper model chosen in the sidebar, among the models this server allows (default:
    ``EMOTION_WHISPER_MODEL`` or the bundled tiny.en). On a hosted deployment, unless
    ``EMOTION_WHISPER_ALLOWED`` says otherwise, only the bundled model is offered."""
    server = settings()
    # what can run here: models that need a download only where EMOTION_WHISPER_DOWNLOADS allows them
    options = menu_models(server.whisper_allowed, server.whisper_model, server.whisper_downloads)
    if st.session_state.get(_FALLBACK_KEY):  # the last choice could not be loaded: show the model in use
        st.session_state["whisper_model"] = ""
    if st.session_state.get("whisper_model") not in options:
        st.session_state.pop("whisper_model", None)
    if len(options) == 1:
        why = (
            " It counts as a hosted deployment (it listens on a network address, or EMOTION_HOSTED=1): on a machine "
            "of your own, run it with `--server.address 127.0.0.1` or set `EMOTION_HOSTED=0`."
            if server.hosted
            else ""
        )
        if len(server.whisper_allowed) > 1:  # allowed, but each needs a download
            st.sidebar.caption(
                "Whisper model: tiny.en (bundled, offline). The other Whisper models must be downloaded first: on a "
                "machine with a network, set `EMOTION_WHISPER_DOWNLOADS=1` to offer them."
            )
        else:
            st.sidebar.caption(f"Whisper model: tiny.en (bundled, offline). Other models are switched off on this server.{why}")
        return options[0]
    return st.sidebar.selectbox(
        "Whisper model",
        options,
        index=options.index(server.whisper_model),  # the configured model is always allowed
        format_func=describe_model,
        help="Bigger models transcribe better and slower. Multilingual models transcribe other languages and "
        "translate them to English for the words' emotion. Only models that run on this machine offline are listed; "
        "with EMOTION_WHISPER_DOWNLOADS=1, models marked 'download' are too (they need a network on first use).",
        key="whisper_model",
    )


def speech_analyzer_or_stop() -> SpeechEmotionAnalyzer:
    """The speech models with the sidebar's Whisper model, or a clear error on the page and
    ``st.stop()``. A model that cannot be loaded gives one message, and the page goes on with the
    bundled model, the sidebar showing it."""
    stop_if_models_broken()
    model = whisper_model_choice()
    try:
        acoustic, semantic = speech_emotion_models()
        whisper, problem = transcriber(model)
    except (ModelError, ValueError) as exc:
        log.error("speech models could not be loaded: %s", exc)
        st.error(f"The speech models could not be loaded: {exc}")
        st.stop()
    if problem is not None and model:
        st.session_state[_FALLBACK_KEY] = problem
        st.rerun()  # the selector shows the bundled model, and the message comes with it
    note = st.session_state.pop(_FALLBACK_KEY, None)
    if note:
        st.warning(note)
    return SpeechEmotionAnalyzer(whisper, acoustic, semantic)
