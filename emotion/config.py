"""Settings, read from environment variables in one place.

| variable                    | default                                   | meaning                                          |
|-----------------------------|-------------------------------------------|--------------------------------------------------|
| ``EMOTION_MODELS_DIR``      | ``<repo>/models_onnx``                    | folder of the ONNX models and their cards        |
| ``EMOTION_FACE_MODEL``      | ``fernet``                                | face-expression model name (file stem)           |
| ``EMOTION_FACE_DETECTOR``   | ``blazeface_full_range``                  | face detector: ``blazeface_full_range``, ``blazeface_short_range`` (ONNX files) or ``haar`` |
| ``EMOTION_HAAR_CASCADE``    | ``<repo>/haarcascade_frontalface_default.xml`` | OpenCV Haar cascade for face detection      |
| ``EMOTION_LIVE_DETECT_MAX_SIDE`` | ``320``                              | longest side (px) of the copy detection runs on, live video |
| ``EMOTION_PHOTO_DETECT_MAX_SIDE`` | ``1280``                            | the same for photos (small faces in group photos) |
| ``EMOTION_ACOUSTIC_MODEL`` | ``acoustic_emotion``                      | voice (acoustic) emotion model, ONNX file stem    |
| ``EMOTION_TEXT_MODEL``      | ``text_emotion``                          | text (semantic) emotion model, ONNX file stem     |
| ``EMOTION_WHISPER_MODEL``   | (empty: bundled tiny.en)                  | Whisper model name (tiny, base, small, ...) or a CTranslate2 folder |
| ``EMOTION_WHISPER_BACKEND`` | ``faster-whisper``                        | ``faster-whisper`` or ``openai-whisper`` (if installed) |
| ``EMOTION_ORT_THREADS``     | ``1``                                     | onnxruntime intra-op threads per model           |
| ``EMOTION_MAX_IMAGE_PIXELS``| ``50000000``                              | largest decoded image accepted (pixels)          |
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"environment variable {name} must be positive, got {value}")
    return value


@dataclass(frozen=True)
class Settings:
    """Runtime settings; :func:`Settings.from_env` reads them from the environment."""

    models_dir: Path = REPO_ROOT / "models_onnx"
    face_model: str = "fernet"
    face_detector: str = "blazeface_full_range"
    haar_cascade: Path = REPO_ROOT / "haarcascade_frontalface_default.xml"
    live_detect_max_side: int = 320
    photo_detect_max_side: int = 1280
    acoustic_model: str = "acoustic_emotion"
    text_model: str = "text_emotion"
    whisper_model: str = ""
    whisper_backend: str = "faster-whisper"
    ort_threads: int = 1
    max_image_pixels: int = 50_000_000

    @classmethod
    def from_env(cls) -> Settings:
        """Settings from the ``EMOTION_*`` environment variables (defaults above).

        Raises:
            ValueError: a numeric variable is not a positive integer.
        """
        d = cls()
        return cls(
            models_dir=Path(os.environ.get("EMOTION_MODELS_DIR") or d.models_dir),
            face_model=os.environ.get("EMOTION_FACE_MODEL") or d.face_model,
            face_detector=(os.environ.get("EMOTION_FACE_DETECTOR") or d.face_detector).strip(),
            haar_cascade=Path(os.environ.get("EMOTION_HAAR_CASCADE") or d.haar_cascade),
            live_detect_max_side=_env_int("EMOTION_LIVE_DETECT_MAX_SIDE", d.live_detect_max_side),
            photo_detect_max_side=_env_int("EMOTION_PHOTO_DETECT_MAX_SIDE", d.photo_detect_max_side),
            acoustic_model=os.environ.get("EMOTION_ACOUSTIC_MODEL") or d.acoustic_model,
            text_model=os.environ.get("EMOTION_TEXT_MODEL") or d.text_model,
            whisper_model=os.environ.get("EMOTION_WHISPER_MODEL", d.whisper_model).strip(),
            whisper_backend=(os.environ.get("EMOTION_WHISPER_BACKEND") or d.whisper_backend).strip().lower(),
            ort_threads=_env_int("EMOTION_ORT_THREADS", d.ort_threads),
            max_image_pixels=_env_int("EMOTION_MAX_IMAGE_PIXELS", d.max_image_pixels),
        )

    def model_path(self, name: str) -> Path:
        """Path of the ONNX file of model ``name`` in :attr:`models_dir`."""
        return self.models_dir / f"{name}.onnx"
