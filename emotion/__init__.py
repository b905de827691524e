"""Multimodal emotion recognition: the library behind the Streamlit app.

Importable without Streamlit. The one entry point: :func:`analyze` (a photo, audio, video or
text file, path or bytes, into one :class:`Analysis`), over :class:`Analyzers` (the models,
loaded once from :class:`Settings`). Every probability vector is float (7,) in the
FER2013 label order of :data:`emotion.labels.EMOTIONS`.

Nothing is sent anywhere at run time: importing the package switches off, before any of them is
imported, the telemetry of the libraries it loads (:data:`emotion.offline.OFFLINE_ENV`); docs/deploy.md lists
what may go out (the live pages' STUN/TURN, and Whisper models a user picks by name).
"""

__version__ = "0.3.0"

from . import offline  # noqa: F401 - first: the environment is set before any library is imported
from .analysis import Analysis, Analyzers, analyze
from .config import Settings
from .errors import EmotionError, InputError, ModelError
from .face import FaceEmotion, FaceEmotionAnalyzer, draw_faces
from .labels import EMOTIONS

__all__ = [
    "EMOTIONS",
    "Analysis",
    "Analyzers",
    "EmotionError",
    "FaceEmotion",
    "FaceEmotionAnalyzer",
    "InputError",
    "ModelError",
    "Settings",
    "__version__",
    "analyze",
    "draw_faces",
]
