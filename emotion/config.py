"""Settings, read from environment variables in one place.

| variable                    | default                                   | meaning                                          |
|-----------------------------|-------------------------------------------|--------------------------------------------------|
| ``EMOTION_MODELS_DIR``      | ``<repo>/models_onnx``                    | folder of the ONNX models and their cards        |
| ``EMOTION_FACE_MODEL``      | ``fernet``                                | face-expression model name (file stem)           |
| ``EMOTION_FACE_DETECTOR``   | ``blazeface_full_range``                  | face detector: ``blazeface_full_range``, ``blazeface_short_range`` (ONNX files) or ``haar`` |
| ``EMOTION_HAAR_CASCADE``    | ``<repo>/haarcascade_frontalface_default.xml`` | OpenCV Haar cascade for face detection      |
| ``EMOTION_LIVE_DETECT_MAX_SIDE`` | ``320``                              | longest side (px) of the copy detection runs on, live video |
| ``EMOTION_PHOTO_DETECT_MAX_SIDE`` | ``1280``                            | the same for photos (small faces in group photos) |
| ``EMOTION_FACE_READABILITY`` | ``1``                                  | 1: faces turned away, too small or too blurred get no expression (:mod:`emotion.face.quality`); 0: every face is labelled |
| ``EMOTION_ACOUSTIC_MODEL`` | ``acoustic_emotion``                      | voice (acoustic) emotion model, ONNX file stem    |
| ``EMOTION_TEXT_MODEL``      | ``text_emotion``                          | text (semantic) emotion model, ONNX file stem     |
| ``EMOTION_WHISPER_MODEL``   | (empty: bundled tiny.en)                  | Whisper model name (tiny, base, small, ...) or a CTranslate2 folder |
| ``EMOTION_WHISPER_BACKEND`` | ``faster-whisper``                        | ``faster-whisper`` or ``openai-whisper`` (if installed) |
| ``EMOTION_HOSTED``          | auto: 1 on Streamlit Community Cloud      | 1: a hosted deployment (any visitor may use it), 0: a machine of your own |
| ``EMOTION_WHISPER_ALLOWED`` | every name in the sidebar; hosted: none   | Whisper models visitors may choose, comma-separated (``all``: every one); the bundled tiny.en and ``EMOTION_WHISPER_MODEL`` always |
| ``EMOTION_WHISPER_MAX_LOADED`` | ``1``                                  | Whisper models held in memory at once besides the bundled one (least recently used dropped) |
| ``EMOTION_ORT_THREADS``     | ``1``                                     | onnxruntime intra-op threads per model           |
| ``EMOTION_MAX_IMAGE_PIXELS``| ``50000000``                              | largest decoded image accepted (pixels)          |
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

STREAMLIT_CLOUD_ROOT = Path("/mount/src")
"""Where Streamlit Community Cloud checks out the apps it hosts."""


def _env_int(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ValueError(f"environment variable {name} must be at least {minimum}, got {value}")
    return value


def _env_bool(name: str, default: bool) -> bool:
    raw = (os.environ.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"environment variable {name} must be 1 or 0, got {raw!r}")


def _whisper_allowed(hosted: bool, default_model: str) -> tuple[str, ...]:
    from .speech.transcribe import WHISPER_MODELS

    raw = os.environ.get("EMOTION_WHISPER_ALLOWED")
    if raw is None:
        names = [] if hosted else list(WHISPER_MODELS)
    elif raw.strip().lower() == "all":
        names = list(WHISPER_MODELS)
    else:
        names = [n.strip() for n in raw.split(",") if n.strip()]
    return tuple(dict.fromkeys(["", default_model, *names]))


@dataclass(frozen=True)
class Settings:
    """Runtime settings; :func:`Settings.from_env` reads them from the environment."""

    models_dir: Path = REPO_ROOT / "models_onnx"
    face_model: str = "fernet"
    face_detector: str = "blazeface_full_range"
    haar_cascade: Path = REPO_ROOT / "haarcascade_frontalface_default.xml"
    live_detect_max_side: int = 320
    photo_detect_max_side: int = 1280
    face_readability: bool = True
    acoustic_model: str = "acoustic_emotion"
    text_model: str = "text_emotion"
    whisper_model: str = ""
    whisper_backend: str = "faster-whisper"
    ort_threads: int = 1
    max_image_pixels: int = 50_000_000
    hosted: bool = False
    whisper_allowed: tuple[str, ...] = ("",)
    whisper_max_loaded: int = 1

    @classmethod
    def from_env(cls) -> Settings:
        """Settings from the ``EMOTION_*`` environment variables (defaults above).

        Raises:
            ValueError: a numeric variable is not a positive integer (0 allowed for
                ``EMOTION_WHISPER_MAX_LOADED``), or ``EMOTION_HOSTED`` is not 1 or 0.
        """
        d = cls()
        hosted = _env_bool("EMOTION_HOSTED", REPO_ROOT.is_relative_to(STREAMLIT_CLOUD_ROOT))
        whisper_model = os.environ.get("EMOTION_WHISPER_MODEL", d.whisper_model).strip()
        return cls(
            models_dir=Path(os.environ.get("EMOTION_MODELS_DIR") or d.models_dir),
            face_model=os.environ.get("EMOTION_FACE_MODEL") or d.face_model,
            face_detector=(os.environ.get("EMOTION_FACE_DETECTOR") or d.face_detector).strip(),
            haar_cascade=Path(os.environ.get("EMOTION_HAAR_CASCADE") or d.haar_cascade),
            live_detect_max_side=_env_int("EMOTION_LIVE_DETECT_MAX_SIDE", d.live_detect_max_side),
            photo_detect_max_side=_env_int("EMOTION_PHOTO_DETECT_MAX_SIDE", d.photo_detect_max_side),
            face_readability=_env_bool("EMOTION_FACE_READABILITY", d.face_readability),
            acoustic_model=os.environ.get("EMOTION_ACOUSTIC_MODEL") or d.acoustic_model,
            text_model=os.environ.get("EMOTION_TEXT_MODEL") or d.text_model,
            whisper_model=whisper_model,
            whisper_backend=(os.environ.get("EMOTION_WHISPER_BACKEND") or d.whisper_backend).strip().lower(),
            ort_threads=_env_int("EMOTION_ORT_THREADS", d.ort_threads),
            max_image_pixels=_env_int("EMOTION_MAX_IMAGE_PIXELS", d.max_image_pixels),
            hosted=hosted,
            whisper_allowed=_whisper_allowed(hosted, whisper_model),
            whisper_max_loaded=_env_int("EMOTION_WHISPER_MAX_LOADED", d.whisper_max_loaded, minimum=0),
        )

    def model_path(self, name: str) -> Path:
        """Path of the ONNX file of model ``name`` in :attr:`models_dir`."""
        return self.models_dir / f"{name}.onnx"
