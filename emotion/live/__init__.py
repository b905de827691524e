"""Live sessions: the browser's camera and microphone through streamlit-webrtc, analysed as they
arrive, on one clock. Imports ``av``, never ``streamlit``.

Modules: :mod:`~emotion.live.clock` (each stream's media time, :class:`PacketClock`),
:mod:`~emotion.live.face` (the camera: latest-frame-wins, :class:`FaceVideoProcessor`),
:mod:`~emotion.live.speech` (the microphone: no audio dropped, VAD and Whisper in their own
threads, :class:`SpeechStreamProcessor`), :mod:`~emotion.live.session` (both together, fused:
:class:`LiveSession`) and :mod:`~emotion.live.metrics` (latencies).
"""

from .clock import PacketClock
from .face import FaceVideoProcessor, LiveFaceSnapshot
from .metrics import ShownLatencies, analysis_latencies
from .session import SOURCE, DashboardSnapshot, LiveSession, ModalityPart
from .speech import MAX_BACKLOG_S, SpeechSnapshot, SpeechStreamProcessor

__all__ = [
    "MAX_BACKLOG_S",
    "SOURCE",
    "DashboardSnapshot",
    "FaceVideoProcessor",
    "LiveFaceSnapshot",
    "LiveSession",
    "ModalityPart",
    "PacketClock",
    "ShownLatencies",
    "SpeechSnapshot",
    "SpeechStreamProcessor",
    "analysis_latencies",
]
