"""Multimodal emotion recognition: the library behind the Streamlit app.

Importable without Streamlit. Every probability vector is float (7,) in the
FER2013 label order of :data:`emotion.labels.EMOTIONS`.
"""

from .errors import EmotionError, InputError, ModelError
from .face import FaceEmotion, FaceEmotionAnalyzer, draw_faces
from .labels import EMOTIONS

__all__ = ["EMOTIONS", "EmotionError", "FaceEmotion", "FaceEmotionAnalyzer", "InputError", "ModelError", "draw_faces"]
