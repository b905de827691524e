"""Settings, read from environment variables in one place.

| variable                    | default                                   | meaning                                          |
|-----------------------------|-------------------------------------------|--------------------------------------------------|
| ``EMOTION_CACHE_DIR``       | ``~/.cache/emotion``                      | the app's own files between runs (:func:`app_cache_dir`) |
| ``EMOTION_MODELS_DIR``      | the package's ``models_onnx`` (:mod:`emotion.assets`) | folder of the ONNX models and their cards |
| ``EMOTION_FACE_MODEL``      | ``fernet``                                | face-expression model name (file stem)           |
| ``EMOTION_FACE_DETECTOR``   | ``blazeface_full_range``                  | face detector: ``blazeface_full_range``, ``blazeface_short_range`` (ONNX files) or ``haar`` |
| ``EMOTION_HAAR_CASCADE``    | the package's ``haarcascade_frontalface_default.xml`` | OpenCV Haar cascade for face detection |
| ``EMOTION_LIVE_DETECT_MAX_SIDE`` | ``320``                              | longest side (px) of the copy detection runs on, live video |
| ``EMOTION_PHOTO_DETECT_MAX_SIDE`` | ``1280``                            | the same for photos (small faces in group photos) |
| ``EMOTION_FACE_READABILITY`` | ``1``                                  | 1: faces turned away, too small or too blurred get no expression (:mod:`emotion.face.quality`); 0: every face is labelled |
| ``EMOTION_ACOUSTIC_MODEL`` | ``acoustic_emotion``                      | voice (acoustic) emotion model, ONNX file stem    |
| ``EMOTION_TEXT_MODEL``      | ``text_emotion``                          | text (semantic) emotion model, ONNX file stem     |
| ``EMOTION_WHISPER_MODEL``   | (empty: bundled tiny.en)                  | Whisper model name (tiny, base, small, ...) or a CTranslate2 folder |
| ``EMOTION_WHISPER_BACKEND`` | ``faster-whisper``                        | ``faster-whisper`` or ``openai-whisper`` (if installed) |
| ``EMOTION_HOSTED``          | auto (below)                              | 1: a hosted deployment (any visitor may use it), 0: a machine of your own |
| ``EMOTION_WHISPER_ALLOWED`` | every name in the sidebar; hosted: none   | Whisper models visitors may choose, comma-separated (``all``: every one); the bundled tiny.en and ``EMOTION_WHISPER_MODEL`` always |
| ``EMOTION_WHISPER_MAX_LOADED`` | ``1``                                  | Whisper models held in memory at once besides the bundled one (least recently used dropped) |
| ``EMOTION_ORT_THREADS``     | ``1``                                     | onnxruntime intra-op threads per model           |
| ``EMOTION_MAX_IMAGE_PIXELS``| ``50000000``                              | largest photo accepted (pixels, checked from its header before decoding) |
| ``EMOTION_MAX_FRAME_PIXELS``| ``8847360`` (4096×2160)                   | largest video frame accepted (pixels): the stream's declared size before decoding, and every decoded frame |
| ``EMOTION_MAX_MEDIA_SECONDS``| ``14400`` (4 h); hosted ``1800`` (30 min) | longest audio or video analysed (media seconds): a file that says it is longer is refused; one that does not say stops there, with a note |
| ``EMOTION_MAX_VIDEO_FPS``   | ``60``                                    | highest frame rate (frames/s) of a video's annotated copy: faster files are thinned to it, in real time |
| ``EMOTION_MAX_TEXT_CHARS``  | ``2000``                                  | longest text (characters) given to the words model; longer text is cut there, with a note |
| ``EMOTION_MAX_TEXT_FILE_BYTES`` | ``10000000``                          | largest text file the CLI reads (bytes) |
| ``EMOTION_MAX_CONCURRENT_ANALYSES`` | ``2``                             | file analyses (photo, audio, video) running at once in one process; others wait in a queue |
| ``EMOTION_MAX_QUEUED_ANALYSES`` | ``8``                                 | analyses that may wait for a slot; more are told the server is busy |
| ``EMOTION_ANALYSIS_WAIT_S`` | ``300``                                   | longest wait (s) for a slot before the page says the server is busy |

``EMOTION_HOSTED`` by default: 1 on Streamlit Community Cloud (the app runs under ``/mount/src``)
and for a server bound to anything but a loopback address (Streamlit's default, no
``--server.address``, listens on every interface, so it counts as hosted: start it with
``--server.address 127.0.0.1`` for a machine of your own, or set ``EMOTION_HOSTED=0``); 0 for
the library, the CLI and batch (no server).
"""

from __future__ import annotations

import ipaddress
import math
import os
from dataclasses import dataclass
from pathlib import Path

from .assets import bundled_haar_cascade, bundled_models_dir

STREAMLIT_CLOUD_ROOT = Path("/mount/src")
"""Where Streamlit Community Cloud checks out the apps it hosts."""

WHISPER_MODELS: tuple[str, ...] = ("", "tiny.en", "base.en", "small.en", "tiny", "base", "small", "medium", "large-v3")
"""Whisper models a server may offer (faster-whisper names; "" is the bundled tiny.en, offline).
All but "" are downloaded by faster-whisper on first use, which needs a network."""

MAX_SAMPLE_FPS = 60.0
"""Highest rate (frames per media second) at which a video's frames may be sampled for faces (``--fps``)."""

HOSTED_MAX_MEDIA_SECONDS = 1800.0
"""Default of ``EMOTION_MAX_MEDIA_SECONDS`` on a hosted deployment (30 min): every visitor shares
its CPU."""


def app_cache_dir() -> Path:
    """The app's own folder for files it keeps between runs (the offline multilingual Whisper
    assembled from its wheels, the local Ray's HOME): ``$EMOTION_CACHE_DIR``, default
    ``~/.cache/emotion`` (not created here)."""
    return Path(os.environ.get("EMOTION_CACHE_DIR") or Path.home() / ".cache" / "emotion")


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


def _env_float(name: str, default: float, minimum: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"environment variable {name} must be a number, got {raw!r}") from None
    if not math.isfinite(value) or value < minimum:
        raise ValueError(f"environment variable {name} must be a finite number of at least {minimum:g}, got {raw!r}")
    return value


def is_loopback(address: str | None) -> bool:
    """Whether a server bound to ``address`` is reachable from this machine only: ``localhost``
    or an address in 127.0.0.0/8 or ``::1``. None or "" (every interface, Streamlit's default),
    ``0.0.0.0``, ``::`` and any other address or host name are not."""
    if not address:
        return False
    address = address.strip().strip("[]")
    if address.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


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

    models_dir: Path = bundled_models_dir()
    face_model: str = "fernet"
    face_detector: str = "blazeface_full_range"
    haar_cascade: Path = bundled_haar_cascade()
    live_detect_max_side: int = 320
    photo_detect_max_side: int = 1280
    face_readability: bool = True
    acoustic_model: str = "acoustic_emotion"
    text_model: str = "text_emotion"
    whisper_model: str = ""
    whisper_backend: str = "faster-whisper"
    ort_threads: int = 1
    max_image_pixels: int = 50_000_000
    max_frame_pixels: int = 4096 * 2160
    max_media_seconds: float = 4 * 3600.0
    max_video_fps: int = 60
    max_text_chars: int = 2000
    max_text_file_bytes: int = 10_000_000
    max_concurrent_analyses: int = 2
    max_queued_analyses: int = 8
    analysis_wait_s: float = 300.0
    hosted: bool = False
    whisper_allowed: tuple[str, ...] = ("",)
    whisper_max_loaded: int = 1

    @classmethod
    def from_env(cls, server_address: str | None = None) -> Settings:
        """Settings from the ``EMOTION_*`` environment variables (defaults above).

        Args:
            server_address: the address the serving process binds to ("" for every
                interface), or None when nothing is served (library, CLI, batch). Unless
                ``EMOTION_HOSTED`` says otherwise, a server on a non-loopback address is hosted.

        Raises:
            ValueError: a numeric variable is not a positive number (0 allowed for
                ``EMOTION_WHISPER_MAX_LOADED``), or ``EMOTION_HOSTED`` is not 1 or 0.
        """
        d = cls()
        on_cloud = Path(__file__).resolve().is_relative_to(STREAMLIT_CLOUD_ROOT)
        hosted = _env_bool("EMOTION_HOSTED", on_cloud or (server_address is not None and not is_loopback(server_address)))
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
            max_frame_pixels=_env_int("EMOTION_MAX_FRAME_PIXELS", d.max_frame_pixels),
            max_media_seconds=_env_float(
                "EMOTION_MAX_MEDIA_SECONDS", HOSTED_MAX_MEDIA_SECONDS if hosted else d.max_media_seconds, 1.0
            ),
            max_video_fps=_env_int("EMOTION_MAX_VIDEO_FPS", d.max_video_fps),
            max_text_chars=_env_int("EMOTION_MAX_TEXT_CHARS", d.max_text_chars),
            max_text_file_bytes=_env_int("EMOTION_MAX_TEXT_FILE_BYTES", d.max_text_file_bytes),
            max_concurrent_analyses=_env_int("EMOTION_MAX_CONCURRENT_ANALYSES", d.max_concurrent_analyses),
            max_queued_analyses=_env_int("EMOTION_MAX_QUEUED_ANALYSES", d.max_queued_analyses, minimum=0),
            analysis_wait_s=_env_float("EMOTION_ANALYSIS_WAIT_S", d.analysis_wait_s, 0.0),
            hosted=hosted,
            whisper_allowed=_whisper_allowed(hosted, whisper_model),
            whisper_max_loaded=_env_int("EMOTION_WHISPER_MAX_LOADED", d.whisper_max_loaded, minimum=0),
        )

    def model_path(self, name: str) -> Path:
        """Path of the ONNX file of model ``name`` in :attr:`models_dir`."""
        return self.models_dir / f"{name}.onnx"
