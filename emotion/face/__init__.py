"""Face modality: detection (BlazeFace or Haar), classification, drawing and the orchestrating analyzer."""

from .analyzer import FaceEmotion, FaceEmotionAnalyzer, build_detector, faces_report
from .blazeface import BlazeFaceDetector
from .detect import FaceDetections, HaarFaceDetector
from .draw import draw_faces

__all__ = [
    "BlazeFaceDetector",
    "FaceDetections",
    "FaceEmotion",
    "FaceEmotionAnalyzer",
    "HaarFaceDetector",
    "build_detector",
    "draw_faces",
    "faces_report",
]
