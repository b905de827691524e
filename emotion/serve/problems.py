"""Errors as JSON problem details (RFC 9457, ``application/problem+json``), each with a stable
``code`` a program can switch on and a ``detail`` a person can act on. Bad input is never a 500
and never a traceback.

| code | status | when |
|---|---|---|
| ``unauthorized`` | 401 | no API key, or an unknown one (``X-API-Key``) |
| ``not_found`` | 404 | no such route, or a job that does not exist (any more) |
| ``too_large`` | 413 | an upload over ``EMOTION_SERVE_MAX_UPLOAD_BYTES`` |
| ``unsupported_media`` | 415 | not a photo, audio or video file the app decodes |
| ``invalid_input`` | 422 | the file or a field cannot be analysed (corrupt, empty, too long, a bad option) |
| ``too_many_requests`` | 429 | the key's concurrent requests or open streams are at their limit; ``Retry-After`` says when to retry |
| ``busy`` | 503 | every analysis slot and job is taken; ``Retry-After`` |
| ``model_unavailable`` | 503 | a model could not be loaded |
| ``timeout`` | 504 | the analysis took longer than ``EMOTION_SERVE_REQUEST_TIMEOUT_S`` (send it as a job) |
| ``internal`` | 500 | a bug: the message says so, the server log has the details |
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import EmotionError, InputError, ModelError
from ..sanitize import escape_controls

log = logging.getLogger(__name__)

PROBLEM_TYPE = "urn:emotion-app:problem:"
"""The ``type`` of a problem is this followed by its code (a stable identifier; the codes are
documented in docs/api.md, "Errors")."""


class Problem(BaseModel):
    """A problem details object (RFC 9457)."""

    type: str = Field(description="urn:emotion-app:problem:<code>")
    title: str = Field(description="a short, fixed summary of the code")
    status: int = Field(description="the HTTP status")
    code: str = Field(description="stable machine-readable code (see the table in the docs)")
    detail: str = Field(description="what went wrong, and what to do, for a person")
    instance: str | None = Field(None, description="the request path")


TITLES = {
    "unauthorized": "API key missing or unknown",
    "not_found": "Not found",
    "too_large": "Upload too large",
    "unsupported_media": "Unsupported media",
    "invalid_input": "The input cannot be analysed",
    "too_many_requests": "Too many requests for this key",
    "busy": "The server is busy",
    "model_unavailable": "A model could not be loaded",
    "timeout": "The analysis took too long",
    "internal": "Internal error",
}


class ApiError(Exception):
    """An error the API answers with a problem: ``code`` (a key of :data:`TITLES`), the HTTP
    ``status``, a ``detail`` for a person, and headers (``Retry-After``)."""

    def __init__(self, status: int, code: str, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers = status, code, detail, headers or {}


def problem_response(status: int, code: str, detail: str, path: str | None = None, headers=None) -> JSONResponse:
    """The problem as a response (``application/problem+json``); the detail's control characters escaped."""
    body = Problem(
        type=PROBLEM_TYPE + code,
        title=TITLES.get(code, code),
        status=status,
        code=code,
        detail=escape_controls(detail),
        instance=path,
    )
    return JSONResponse(body.model_dump(), status_code=status, headers=headers, media_type="application/problem+json")


def install(app: FastAPI) -> None:
    """Answer every error of ``app`` with a problem."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return problem_response(exc.status, exc.code, exc.detail, request.url.path, exc.headers)

    @app.exception_handler(InputError)
    async def _input_error(request: Request, exc: InputError):
        return problem_response(422, "invalid_input", str(exc), request.url.path)

    @app.exception_handler(ModelError)
    async def _model_error(request: Request, exc: ModelError):
        return problem_response(503, "model_unavailable", str(exc), request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        parts = []
        for e in exc.errors():
            where = ".".join(str(x) for x in e.get("loc", ()) if x not in ("body", "query", "path"))
            parts.append(f"{where or 'request'}: {e.get('msg', 'invalid')}")
        return problem_response(422, "invalid_input", "; ".join(parts) or "invalid request", request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        code = {401: "unauthorized", 404: "not_found", 405: "not_found", 413: "too_large"}.get(exc.status_code, "invalid_input")
        detail = str(exc.detail) if exc.detail else TITLES[code]
        if exc.status_code == 404:
            detail = f"no such endpoint or resource: {request.url.path} (see /docs)"
        if exc.status_code == 405:
            detail = f"{request.method} is not served at {request.url.path} (see /docs)"
        return problem_response(exc.status_code, code, detail, request.url.path, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception):
        log.exception("unexpected error on %s", request.url.path)
        detail = f"an unexpected {type(exc).__name__}: this is a bug of the server, not of your request"
        return problem_response(500, "internal", detail, request.url.path)


def problem_of(exc: BaseException) -> dict:
    """A job's exception as problem details (the same codes as a direct answer)."""
    if isinstance(exc, ApiError):
        status, code, detail = exc.status, exc.code, exc.detail
    elif isinstance(exc, InputError):
        status, code, detail = 422, "invalid_input", str(exc)
    elif isinstance(exc, ModelError):
        status, code, detail = 503, "model_unavailable", str(exc)
    elif isinstance(exc, EmotionError):
        status, code, detail = 422, "invalid_input", str(exc)
    else:
        log.error("a job failed", exc_info=exc)
        status, code, detail = 500, "internal", f"an unexpected {type(exc).__name__}: a bug of the server"
    return Problem(type=PROBLEM_TYPE + code, title=TITLES[code], status=status, code=code, detail=detail).model_dump()
