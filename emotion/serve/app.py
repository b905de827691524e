"""The FastAPI app of the service (:func:`create_app`): the endpoints of ``docs/api.md`` over
the one analysis core (:func:`emotion.analysis.analyze`) and the live core
(:class:`emotion.live.LiveSession`).

Over 400 lines, for a reason: every endpoint is declared inside :func:`create_app`, where it
closes over that app's one :class:`Service` (settings, models, limits, jobs, metrics), so two
apps in one process (tests, Ray Serve replicas) never share state. What is not an endpoint lives
beside it: the schemas, the stream protocol, jobs, keys and limits, problems, metrics."""

import asyncio
import functools
import hashlib
import json
import logging
import shutil
import tempfile
import threading
import time
from importlib import resources
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, File, Form, Request, UploadFile, WebSocket
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from .. import __version__
from ..analysis import analyze, stated_duration_of
from ..analyzers import Analyzers
from ..config import MAX_SAMPLE_FPS, Settings
from ..formats import accepted_extensions, kind_of
from ..labels import EMOTIONS
from ..models import read_card
from ..schema import MODALITIES
from ..slots import ServerBusy, analysis_slots
from .jobs import JobStore
from .metrics import Metrics
from .problems import ApiError, Problem, install, problem_response
from .schemas import (
    AnalysisResult,
    JobAccepted,
    JobState,
    ModelInfo,
    ModelsResult,
    TextRequest,
    TextResult,
    analysis_json,
    fusion_weights,
)
from .security import KEY_HEADER, BodyLimit, Limiter, client_of
from .stream import serve_connection

log = logging.getLogger(__name__)

PROBLEMS = {s: {"model": Problem, "content": {"application/problem+json": {}}} for s in (401, 413, 415, 422, 429, 503, 504)}
COPY_CHUNK = 1 << 20
ACCEPTED = accepted_extensions()
IN_MEMORY_BYTES = 8_000_000
"""A photo up to this size is analysed from memory; larger uploads, audio and video from the private folder."""
RELEASE_ABOVE_BYTES = 8_000_000
"""After a photo larger than this, or any audio or video, the freed memory is handed back to the OS."""


class Service:
    """What the app holds: settings, the models (loaded once), limits, jobs, metrics, and a
    private folder for uploads (mode 0700; each upload removed when its analysis ends)."""

    def __init__(self, settings: Settings, analyzers: Analyzers | None = None):
        self.settings = settings
        self.analyzers = analyzers or Analyzers(settings)
        self.metrics = Metrics()
        self.requests = Limiter(settings.serve_max_requests_per_key, "requests")
        self.streams = Limiter(settings.serve_max_streams_per_key, "streams")
        self.jobs = JobStore(settings.serve_max_jobs, settings.serve_job_ttl_s, workers=settings.max_concurrent_analyses)
        self.slots = analysis_slots(settings.max_concurrent_analyses, settings.max_queued_analyses)
        self.uploads = Path(tempfile.mkdtemp(prefix="emotion-serve-"))  # 0700: this process's only
        self._pool = None
        self._pool_lock = threading.Lock()
        self.ready = False

    def load(self) -> None:
        """Load every model now (``/readyz`` says when)."""
        self.analyzers.faces, self.analyzers.speech  # noqa: B018 - load on start, not on the first request
        self.ready = True

    def transcriber(self, name: str) -> tuple[object | None, str | None]:
        """The Whisper model ``name`` if this server allows it, else the bundled one and why."""
        if not name:
            return None, None
        with self._pool_lock:
            if self._pool is None:
                from ..speech.pool import TranscriberPool

                s = self.settings
                self._pool = TranscriberPool(s.whisper_allowed, s.whisper_max_loaded, s.whisper_backend)
        return self._pool.get(name)

    def close(self) -> None:
        self.jobs.shutdown()
        shutil.rmtree(self.uploads, ignore_errors=True)


def _parse_modalities(raw: str) -> frozenset[str]:
    chosen = frozenset(m.strip() for m in raw.split(",") if m.strip())
    if not chosen or chosen - set(MODALITIES):
        raise ApiError(
            422, "invalid_input", f"modalities must be a comma-separated subset of {', '.join(MODALITIES)}, got {raw!r}"
        )
    return chosen


def _parse_weights(raw: str | None) -> dict[str, float] | None:
    if not raw:
        return None
    try:
        weights = json.loads(raw)
    except ValueError:
        raise ApiError(422, "invalid_input", 'weights must be JSON, e.g. {"face": 1, "semantic": 0.5, "acoustic": 1}') from None
    try:
        return fusion_weights(weights)
    except ValueError as exc:
        raise ApiError(422, "invalid_input", str(exc)) from None


def create_app(settings: Settings | None = None, analyzers: Analyzers | None = None, load: bool = True) -> FastAPI:
    """The service's app.

    Args:
        settings: limits, keys and models (default :meth:`Settings.from_env`).
        analyzers: models already loaded (default: loaded from ``settings`` when the app starts).
        load: load every model at start-up (``/readyz`` is 200 once they are).
    """
    settings = settings or Settings.from_env()
    service = Service(settings, analyzers)

    async def lifespan(app: FastAPI):
        if load:
            await run_in_threadpool(service.load)
        else:
            service.ready = True
        yield
        service.close()

    app = FastAPI(
        title="Emotion recognition API",
        version=__version__,
        summary="Faces, voice and words: the models of the emotion app, over HTTP and a WebSocket.",
        description="Results follow the one result schema (emotion.schema); errors are problem details (RFC 9457). "
        f"Send an API key in the {KEY_HEADER} header when the server has keys.",
        lifespan=lifespan,
    )
    app.state.service = service
    install(app)
    if settings.serve_cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=list(settings.serve_cors_origins), allow_methods=["GET", "POST"], allow_headers=["*"]
        )
    app.add_middleware(BodyLimit, max_bytes=settings.serve_max_upload_bytes)

    @app.middleware("http")
    async def count(request: Request, call_next):
        t0 = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        service.metrics.requests.labels(path, request.method, str(response.status_code)).inc()
        service.metrics.latency.labels(path).observe(time.perf_counter() - t0)
        return response

    def caller(request: Request) -> str:
        return client_of(request.headers.get(KEY_HEADER), request.client.host if request.client else None, settings)

    async def held(request: Request):
        who = caller(request)
        with service.requests.hold(who):
            yield who

    def run_analysis(
        source: Path | bytes, name: str, kind: str, modalities, fps: float, weights, whisper: str, progress=None
    ) -> dict:
        size = len(source) if isinstance(source, bytes) else source.stat().st_size
        large = kind != "image" or size > RELEASE_ABOVE_BYTES  # hand the memory back after it
        transcriber, note = service.transcriber(whisper)
        chosen = service.analyzers.selected(modalities, transcriber)
        t0 = time.perf_counter()
        try:
            with service.slots.slot(settings.analysis_wait_s, release=large):
                service.metrics.analyses_running.inc()
                try:
                    result = analyze(
                        source, kind=kind, name=name, analyzers=chosen, sample_fps=fps, weights=weights, progress=progress
                    )
                finally:
                    service.metrics.analyses_running.dec()
        except ServerBusy as exc:
            raise ApiError(503, "busy", str(exc), {"Retry-After": "10"}) from None
        service.metrics.inference.labels(kind).observe(time.perf_counter() - t0)
        body = analysis_json(result)
        if note:
            body["notes"] = [*body["notes"], note]
        return body

    @app.post(
        "/v1/analyze",
        response_model=AnalysisResult,
        responses={202: {"model": JobAccepted, "description": "analysed as a job: poll its location"}, **PROBLEMS},
        summary="Analyse a photo, an audio file or a video",
    )
    async def analyze_file(
        request: Request,
        file: Annotated[UploadFile, File(description=f"the file ({ACCEPTED})")],
        who: Annotated[str, Depends(held)],
        fps: Annotated[float, Form(gt=0, le=MAX_SAMPLE_FPS, description="video: frames analysed per media second")] = 2.0,
        modalities: Annotated[str, Form(description="comma-separated: face, semantic, acoustic")] = ",".join(MODALITIES),
        weights: Annotated[str | None, Form(description='late-fusion weights as JSON, e.g. {"acoustic": 0.5}')] = None,
        whisper_model: Annotated[
            str, Form(description="a Whisper model this server allows (GET /v1/models); empty: the bundled tiny.en")
        ] = "",
        job: Annotated[bool, Form(description="analyse as a job (202) whatever its size")] = False,
    ):
        name = Path(file.filename or "").name
        kind = kind_of(name)
        if kind not in ("image", "audio", "video"):
            raise ApiError(
                415,
                "unsupported_media",
                f"{name or 'the upload'} is not a photo, audio or video file by its name (accepted: {accepted_extensions()})",
            )
        chosen = _parse_modalities(modalities)
        fusion = _parse_weights(weights)
        if kind == "image" and "face" not in chosen:
            raise ApiError(422, "invalid_input", "a photo needs the face modality")
        if kind == "audio" and not chosen & {"semantic", "acoustic"}:
            raise ApiError(422, "invalid_input", "an audio file needs the semantic or the acoustic modality")
        if kind == "video" and "face" not in chosen:
            kind = "audio"  # the soundtrack only
        if kind == "image" and file.size is not None and 0 < file.size <= IN_MEMORY_BYTES:  # a photo: decoded from memory
            data = await file.read()
            return JSONResponse(await _answer(data, name, kind, chosen, fps, fusion, whisper_model))
        folder = Path(tempfile.mkdtemp(dir=service.uploads))
        path = folder / (f"upload{Path(name).suffix.lower()}")
        size = 0
        try:
            with path.open("wb") as out:
                while chunk := await file.read(COPY_CHUNK):
                    size += len(chunk)
                    if size > settings.serve_max_upload_bytes:
                        raise ApiError(413, "too_large", f"the upload is larger than {settings.serve_max_upload_bytes:,} bytes")
                    out.write(chunk)
            if size == 0:
                raise ApiError(422, "invalid_input", f"{name} is empty (0 bytes)")
            duration = stated_duration_of(kind, path) if kind in ("audio", "video") else None
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        as_job = job or size > settings.serve_job_above_bytes or (duration is not None and duration > settings.serve_job_above_s)
        if as_job:
            accepted = service.jobs.submit(
                lambda progress: run_analysis(path, name, kind, chosen, fps, fusion, whisper_model, progress),
                lambda: shutil.rmtree(folder, ignore_errors=True),
            )
            service.metrics.jobs_queued.set(service.jobs.active())
            location = f"/v1/jobs/{accepted.id}"
            return JSONResponse(
                JobAccepted(job_id=accepted.id, status=accepted.status, location=location).model_dump(),
                status_code=202,
                headers={"Location": location},
            )
        try:
            return JSONResponse(await _answer(path, name, kind, chosen, fps, fusion, whisper_model))
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    async def _answer(source, name, kind, chosen, fps, fusion, whisper_model) -> dict:
        try:
            return await asyncio.wait_for(
                run_in_threadpool(run_analysis, source, name, kind, chosen, fps, fusion, whisper_model),
                settings.serve_request_timeout_s,
            )
        except TimeoutError:
            raise ApiError(
                504, "timeout", f"the analysis took over {settings.serve_request_timeout_s:g} s; send the file with job=true"
            ) from None

    @app.get("/v1/jobs/{job_id}", response_model=JobState, responses=PROBLEMS, summary="A job's progress, then its result")
    async def job_state(job_id: str, who: Annotated[str, Depends(caller)]):
        job, left = service.jobs.get(job_id)
        service.metrics.jobs_queued.set(service.jobs.active())
        state = JobState(
            job_id=job.id,
            status=job.status,
            stage=job.stage,
            done_s=round(job.done_s, 3),
            total_s=job.total_s,
            problem=job.problem,
            expires_in_s=None if left is None else round(left, 1),
        )
        return JSONResponse(state.model_dump(mode="json", exclude={"result"}) | {"result": job.result})

    @app.post("/v1/text", response_model=TextResult, responses=PROBLEMS, summary="The emotion of some words")
    async def text(body: TextRequest, who: Annotated[str, Depends(held)]):
        classifier = service.analyzers.text
        notes = []
        words = body.text.strip()
        if not words:
            raise ApiError(422, "invalid_input", "the text is empty")
        if len(words) > settings.max_text_chars:
            words = words[: settings.max_text_chars]
            notes.append(f"the text was cut at {settings.max_text_chars} characters (EMOTION_MAX_TEXT_CHARS)")
        context = (body.context or "").strip()[: settings.max_text_chars] or None
        t0 = time.perf_counter()
        # without a context the words are typed text (the card's typed-text neutral offset applies)
        p = await run_in_threadpool(classifier.predict, words, context, context is None)
        service.metrics.inference.labels("text").observe(time.perf_counter() - t0)
        i = int(p.argmax())
        return TextResult(
            label=EMOTIONS[i],
            score=round(float(p[i]), 4),
            probabilities={e: round(float(v), 4) for e, v in zip(EMOTIONS, p, strict=True)},
            notes=notes,
        )

    @app.get("/v1/models", response_model=ModelsResult, summary="The models this server runs, from their cards")
    async def models(who: Annotated[str, Depends(caller)]):
        from ..speech.transcribe import describe_model

        s = settings
        used = [("face", s.face_detector), ("face", s.face_model), ("acoustic", s.acoustic_model), ("semantic", s.text_model)]
        out = []
        for modality, name in used:
            if name == "haar":
                out.append(
                    ModelInfo(
                        name="haar", modality=modality, labels=["face"], source="OpenCV haarcascade_frontalface_default.xml"
                    )
                )
                continue
            card = read_card(s.model_path(name))
            out.append(
                ModelInfo(
                    name=name,
                    modality=modality,
                    labels=list(card.get("labels") or []),
                    version=str(card.get("version") or f"sha256:{_digest(s.model_path(name))}"),
                    source=_text(card.get("source")),
                    licence=_text(card.get("licence")),
                    figures=card.get("evaluation") or {},
                )
            )
        out.append(
            ModelInfo(name=describe_model(s.whisper_model), modality="semantic", labels=[], source="Whisper (faster-whisper)")
        )
        allowed = [describe_model(n) for n in s.whisper_allowed]
        return JSONResponse(
            ModelsResult(version=__version__, labels=list(EMOTIONS), models=out).model_dump() | {"whisper_allowed": allowed}
        )

    @app.get("/healthz", summary="The process answers")
    async def healthz():
        return {"status": "ok", "version": __version__}

    @app.get("/readyz", summary="The models are loaded", responses={503: {"model": Problem}})
    async def readyz():
        if not service.ready:
            raise ApiError(503, "busy", "the models are still loading", {"Retry-After": "5"})
        return {"status": "ready"}

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics():
        service.metrics.jobs_queued.set(service.jobs.active())
        service.metrics.streams_open.set(service.streams.total())
        return Response(service.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/demo", response_class=HTMLResponse, summary="A browser page: your camera and microphone over /v1/stream")
    async def demo():
        page = resources.files("emotion.serve").joinpath("demo.html").read_text(encoding="utf-8")
        return HTMLResponse(
            page,
            headers={
                "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'"
            },
        )

    @app.websocket("/v1/stream")
    async def stream(ws: WebSocket):
        key = ws.headers.get(KEY_HEADER) or ws.query_params.get("api_key")
        try:
            who = client_of(key, ws.client.host if ws.client else None, settings)
        except ApiError as exc:
            await _deny(ws, exc)
            return
        try:
            with service.streams.hold(who):
                await ws.accept()
                await serve_connection(ws, service)
        except ApiError as exc:  # 429: too many streams for this key (before the handshake completes)
            await _deny(ws, exc)

    return app


async def _deny(ws: WebSocket, exc: ApiError) -> None:
    """Refuse a WebSocket handshake with the problem as its HTTP response (401, 429), where the
    server supports the denial response extension; else a plain 403."""
    try:
        await ws.send_denial_response(problem_response(exc.status, exc.code, exc.detail, ws.url.path, exc.headers))
    except RuntimeError:
        await ws.close(code=1008, reason=exc.detail[:120])


@functools.lru_cache(maxsize=32)
def _digest(path: Path) -> str:
    """The first 12 hex digits of a model file's SHA-256: its version when the card states none."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:12]


def _text(value) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def app_from_env() -> FastAPI:
    """The app from the environment's settings (uvicorn's factory; each worker calls it once)."""
    import os

    return create_app(Settings.from_env(server_address=os.environ.get("EMOTION_SERVE_HOST", "127.0.0.1")))
