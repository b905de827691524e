"""Multimodal emotion recognition: the library behind the Streamlit app.

Importable without Streamlit. Every probability vector is float (7,) in the
FER2013 label order of :data:`emotion.labels.EMOTIONS`.

Nothing is sent anywhere at run time: importing the package switches off, before any of them is
imported, the telemetry of the libraries it loads (:data:`emotion.offline.OFFLINE_ENV`); docs/deploy.md lists
what may go out (the live pages' STUN/TURN, and Whisper models a user picks by name).
"""

__version__ = "0.2.0"

from . import offline  # noqa: F401 - first: the environment is set before any library is imported
from .errors import EmotionError, InputError, ModelError
from .face import FaceEmotion, FaceEmotionAnalyzer, draw_faces
from .labels import EMOTIONS

__all__ = ["__version__", "EMOTIONS", "EmotionError", "FaceEmotion", "FaceEmotionAnalyzer", "InputError", "ModelError", "draw_faces"]
