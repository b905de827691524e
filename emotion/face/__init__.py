"""Face modality: detection, classification, drawing and the orchestrating analyzer."""

from .analyzer import FaceEmotion, FaceEmotionAnalyzer, faces_report
from .draw import draw_faces

__all__ = ["FaceEmotion", "FaceEmotionAnalyzer", "draw_faces", "faces_report"]
