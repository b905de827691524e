"""Batch analysis of media archives into Parquet, in one process or on Ray Data.

``python -m emotion batch INPUT... --out DIR [--engine local|ray] [--address ADDR] [--fps N]
[--workers N] [--force]`` (see :func:`main` and ``docs/batch.md``).

Every file goes through the one analysis core (:func:`emotion.analysis.analyze`: the same face,
speech and video analyzers as the pages and the CLI), inside a *worker*, :class:`FileAnalyzer`,
that loads the models once and analyses file after file:

- ``--engine local`` (the default): one worker in this process; Ray is not needed.
- ``--engine ray``: Ray Data holds the list of files (one block per file) and runs
  :class:`FileAnalyzer` as a callable class in ``map_batches`` on a pool of actors, each with
  ``EMOTION_BATCH_WORKER_CPUS`` CPUs (default 1) and as many threads per model. Without
  ``--address`` Ray starts on this machine with its cores; ``--address auto`` or ``ray://...``
  joins an existing cluster.

Results stream back to this process (a few kB per file), which writes them as Parquet under DIR:

- ``DIR/timeline/``: one row per face, utterance or fused estimate, with the columns of
  :data:`BATCH_TIMELINE_COLUMNS` (the timeline's, :data:`emotion.timeline.TIMELINE_COLUMNS`, then
  ``path``, ``media_kind``, ``duration_s``, ``status``, ``error``). A file that failed, or in which
  nothing was found, has one row with an empty ``kind`` that says so.
- ``DIR/summary/``: one row per file, :data:`SUMMARY_COLUMNS`.

Both are written in parts (``part-<run>-<n>.parquet``, the same name in both folders) every
:data:`FLUSH_FILES` files or :data:`FLUSH_S` seconds, so an interrupted run keeps what it did. A
rerun skips files whose path, size and modification time match a summary row with status ``ok``;
failed files and changed files are analysed again (their old rows are removed first), and
``force=True`` redoes every file.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import io
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .config import MAX_SAMPLE_FPS as MAX_FPS
from .config import Settings
from .errors import EmotionError, InputError
from .formats import accepted_extensions, media_kind_of
from .formats import extension as _extension
from .labels import EMOTIONS
from .sanitize import terminal
from .timeline import TIMELINE_COLUMNS

log = logging.getLogger(__name__)

MEDIA_KINDS = ("image", "video", "audio")
"""What a file holds (``media_kind``): a photo, a video (faces + soundtrack) or audio."""
MANIFEST_EXTENSIONS = ("txt", "csv")
"""An INPUT with one of these extensions is a manifest: a list of paths (see :func:`list_inputs`)."""

FILE_COLUMNS: tuple[str, ...] = ("path", "media_kind", "duration_s", "status", "error")
"""Columns about the file, on every timeline row:

- ``path``: the file as listed (an absolute local path, or the URI as given: ``s3://...``);
- ``media_kind``: ``image`` | ``video`` | ``audio`` (empty when the extension says none of them);
- ``duration_s``: the media's duration in seconds as its container states it (empty for photos,
  and when unknown);
- ``status``: ``ok`` | ``error``; ``error``: why the file could not be analysed (empty when ok).
"""
BATCH_TIMELINE_COLUMNS: tuple[str, ...] = (*TIMELINE_COLUMNS, *FILE_COLUMNS)
"""Columns of ``DIR/timeline/``: :data:`emotion.timeline.TIMELINE_COLUMNS` (``source`` is the
file's name, ``start_s``/``end_s`` media seconds), then :data:`FILE_COLUMNS`."""

SUMMARY_COLUMNS: tuple[str, ...] = (
    "path",
    "media_kind",
    "size_bytes",
    "mtime_ns",
    "duration_s",
    "status",
    "error",
    "notes",
    "faces",
    "utterances",
    "dominant_emotion",
    "processing_s",
)
"""Columns of ``DIR/summary/``, one row per file:

- ``path``, ``media_kind``, ``duration_s``, ``status``, ``error``: as in :data:`FILE_COLUMNS`;
- ``size_bytes``, ``mtime_ns``: the file's size and modification time (ns since the epoch) when
  listed: with ``path``, the key that tells a rerun the file is done;
- ``notes``: list of messages about what did not stop the analysis (no face found, no audio
  track, undecodable packets...);
- ``faces``: distinct faces (a photo: faces found; a video: tracked face IDs);
  ``utterances``: utterances transcribed;
- ``dominant_emotion``: see :func:`dominant_emotion`;
- ``processing_s``: wall seconds the worker spent on the file (models already loaded).
"""

TIMELINE_DIR = "timeline"
SUMMARY_DIR = "summary"
FLUSH_FILES = 256
"""Results are written at least every this many files..."""
FLUSH_S = 60.0
"""...and at least every this many seconds (what an interrupted run loses at most)."""
WORKER_CPUS_ENV = "EMOTION_BATCH_WORKER_CPUS"
TASK_RETRIES = 2
"""Times Ray retries a file whose worker died (a node lost, killed for memory, a crash)."""
MAX_BLOCKS = 20_000
"""Ray Data blocks of the file list: one file per block up to this many files (load balance)."""


class BatchError(EmotionError):
    """The batch run cannot start or go on (bad output folder, Ray missing or failing); the
    message says why. Problems with one file never raise: they are that file's error row."""


@dataclass(frozen=True)
class BatchSettings:
    """Settings of batch workers.

    Attributes:
        worker_cpus: CPUs of each worker (a Ray actor, or the local process): Ray reserves this
            many per actor, and every model uses as many threads (onnxruntime intra-op threads,
            CTranslate2's Whisper threads, OpenCV). Environment: ``EMOTION_BATCH_WORKER_CPUS``
            (default 1: on CPU, one single-threaded actor per core scales best).
    """

    worker_cpus: int = 1

    @classmethod
    def from_env(cls) -> BatchSettings:
        """Settings from the environment.

        Raises:
            ValueError: ``EMOTION_BATCH_WORKER_CPUS`` is not a positive integer.
        """
        raw = (os.environ.get(WORKER_CPUS_ENV) or "").strip()
        if not raw:
            return cls()
        try:
            cpus = int(raw)
        except ValueError:
            raise ValueError(f"environment variable {WORKER_CPUS_ENV} must be an integer, got {raw!r}") from None
        if cpus < 1:
            raise ValueError(f"environment variable {WORKER_CPUS_ENV} must be at least 1, got {cpus}")
        return cls(worker_cpus=cpus)


# ---------------------------------------------------------------------------------------------
# Parquet schemas


def _column_type(name: str):
    import pyarrow as pa

    if name in ("face_id", "x", "y", "w", "h", "size_bytes", "mtime_ns", "faces", "utterances"):
        return pa.int64()
    if name in ("transcript_unreliable", "acoustic_uncertain"):
        return pa.bool_()
    if name in ("start_s", "end_s", "duration_s", "processing_s") or name.split("_", 1)[-1] in EMOTIONS:
        return pa.float64()
    if name == "notes":
        return pa.list_(pa.string())
    return pa.string()  # kind, source, text, language, translation, labels, path, media_kind, status, error


def timeline_schema():
    """The ``pyarrow.Schema`` of ``DIR/timeline/``: :data:`BATCH_TIMELINE_COLUMNS`, in order; int64
    face IDs and boxes (pixels), float64 seconds and probabilities, bool flags, strings."""
    import pyarrow as pa

    return pa.schema([(c, _column_type(c)) for c in BATCH_TIMELINE_COLUMNS])


def summary_schema():
    """The ``pyarrow.Schema`` of ``DIR/summary/``: :data:`SUMMARY_COLUMNS`, in order."""
    import pyarrow as pa

    return pa.schema([(c, _column_type(c)) for c in SUMMARY_COLUMNS])


def _input_schema():
    import pyarrow as pa

    return pa.schema([("path", pa.string()), ("size_bytes", pa.int64()), ("mtime_ns", pa.int64()), ("media_kind", pa.string())])


def _result_schema():
    import pyarrow as pa

    return summary_schema().append(pa.field("rows_json", pa.string()))


# ---------------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True)
class InputFile:
    """One file to analyse.

    Attributes:
        path: absolute local path, or a URI (``s3://bucket/key``).
        size_bytes: size in bytes when listed (-1: it does not exist).
        mtime_ns: modification time, ns since the epoch (0 when the store has none).
        media_kind: from the extension: ``image``, ``video`` (``webm`` too: a webm without a video
            track is analysed as audio) or ``audio``; None when it is none of them.
    """

    path: str
    size_bytes: int
    mtime_ns: int
    media_kind: str | None

    @property
    def key(self) -> tuple[str, int, int]:
        """(path, size, mtime): a file with the same key was analysed before."""
        return self.path, self.size_bytes, self.mtime_ns


def is_uri(path: str) -> bool:
    """Whether ``path`` is a URI (``scheme://...``) rather than a local path."""
    head, sep, _ = path.partition("://")
    return bool(sep) and head.isalnum() and len(head) > 1


def _filesystem(uri: str):
    """(pyarrow FileSystem, path in it) for ``uri``: pyarrow's own (s3, gs, hdfs, file), else fsspec's.

    Raises:
        BatchError: neither knows the scheme (e.g. s3fs or gcsfs is not installed).
    """
    import pyarrow as pa
    from pyarrow import fs as pafs

    try:
        return pafs.FileSystem.from_uri(uri)
    except (pa.ArrowException, ValueError, OSError, NotImplementedError) as first:
        try:
            import fsspec.core

            fs, path = fsspec.core.url_to_fs(uri)
        except (ImportError, ValueError, OSError) as exc:
            raise BatchError(f"cannot open {uri}: {first}; fsspec: {exc}") from None
        return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), path


def _uri_of(uri: str, path: str) -> str:
    scheme = uri.partition("://")[0]
    return f"{scheme}://{path.lstrip('/') if scheme not in ('file', 'memory') else path}"


def _read_manifest(text: str, name: str) -> list[str]:
    if _extension(name) == "csv":
        reader = csv.DictReader(io.StringIO(text))
        column = next((c for c in reader.fieldnames or [] if c.strip().lower() == "path"), None)
        if column is None:
            raise InputError(f"manifest {name} has no 'path' column (its header: {reader.fieldnames})")
        return [row[column].strip() for row in reader if (row.get(column) or "").strip()]
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _expand(raw: str, base: Path | None, manifest_ok: bool) -> Iterator[InputFile]:
    if is_uri(raw):
        from pyarrow import fs as pafs

        fs, path = _filesystem(raw)
        info = fs.get_file_info(path)
        if info.type == pafs.FileType.Directory:
            for i in sorted(fs.get_file_info(pafs.FileSelector(path, recursive=True)), key=lambda i: i.path):
                if i.type == pafs.FileType.File and media_kind_of(i.path):
                    yield InputFile(_uri_of(raw, i.path), int(i.size), int(i.mtime_ns or 0), media_kind_of(i.path))
        elif info.type == pafs.FileType.File and manifest_ok and _extension(path) in MANIFEST_EXTENSIONS:
            with fs.open_input_stream(path) as f:
                text = f.read().decode("utf-8-sig")
            parent = raw.rsplit("/", 1)[0]
            for entry in _read_manifest(text, path):
                target = entry if is_uri(entry) or entry.startswith("/") else f"{parent}/{entry}"
                yield from _expand(target, None, False)
        elif info.type == pafs.FileType.File:
            yield InputFile(raw, int(info.size), int(info.mtime_ns or 0), media_kind_of(path))
        elif manifest_ok:  # named on the command line: a typo, not a file to report on
            raise InputError(f"no such file or folder: {raw}")
        else:
            yield InputFile(raw, -1, 0, media_kind_of(path))
        return
    p = Path(raw).expanduser()
    if base is not None and not p.is_absolute():
        p = base / p
    p = p.resolve()
    if p.is_dir():
        for f in sorted(p.rglob("*")):
            if f.is_file() and media_kind_of(f.name):
                st = f.stat()
                yield InputFile(str(f), st.st_size, st.st_mtime_ns, media_kind_of(f.name))
    elif p.is_file() and manifest_ok and _extension(p.name) in MANIFEST_EXTENSIONS:
        try:
            text = p.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError:
            raise InputError(f"manifest {p} is not UTF-8 text") from None
        for entry in _read_manifest(text, p.name):
            yield from _expand(entry, p.parent, False)
    elif p.is_file():
        st = p.stat()
        yield InputFile(str(p), st.st_size, st.st_mtime_ns, media_kind_of(p.name))
    elif manifest_ok:
        raise InputError(f"no such file or folder: {raw}")
    else:
        yield InputFile(str(p), -1, 0, media_kind_of(p.name))


def list_inputs(inputs: Iterable[str]) -> list[InputFile]:
    """Every file named by ``inputs``, sorted by path, each once.

    An input is a file, a folder (searched recursively for photo, audio and video extensions:
    :data:`~emotion.images.IMAGE_EXTENSIONS`, :data:`~emotion.video.VIDEO_EXTENSIONS`,
    :data:`~emotion.speech.audio.AUDIO_EXTENSIONS`), or a manifest (``.txt``: one path per line,
    blank lines and ``#`` comments ignored; ``.csv``: a ``path`` column), whose relative paths
    are relative to the manifest's folder. Local paths, or URIs (``s3://``, ``gs://``, ...) read
    through pyarrow's file systems or, failing that, fsspec's (``s3fs``, ``gcsfs`` must be
    installed). A file of a manifest that does not exist is listed (size -1): its row will say so.

    Raises:
        InputError: an input does not exist, a manifest is not UTF-8, or a CSV manifest has no
            ``path`` column.
        BatchError: a URI whose scheme no installed file system reads.
    """
    seen: dict[str, InputFile] = {}
    for raw in inputs:
        for f in _expand(raw, None, True):
            seen.setdefault(f.path, f)
    return sorted(seen.values(), key=lambda f: f.path)


# ---------------------------------------------------------------------------------------------
# The worker


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

    @property
    def source(self) -> str:
        """The file's name (the timeline's ``source``)."""
        return PurePosixPath(self.path.partition("://")[2] if is_uri(self.path) else self.path).name

    @property
    def faces(self) -> int:
        """Distinct faces: face IDs of the face rows (photo: 1..n; video: tracks)."""
        return len({r.get("face_id") for r in self.rows if r.get("kind") == "face"})

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
       (:func:`emotion.fusion.fuse_face_words_voice`, no face), the label covering the most seconds;
    3. else, with faces (a photo, a video without speech): the most frequent face label (a
       video's faces are sampled evenly in time, so the most seconds too), faces that cannot be
       read (:mod:`emotion.face.quality`) left out;
    4. else None. Ties go to the label met first.
    """
    import numpy as np

    from .fusion import fuse_face_words_voice

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
            fused = fuse_face_words_voice(
                None, vec["semantic"], vec["acoustic"], voice_uncertain=bool(r.get("acoustic_uncertain"))
            )
            if fused is not None:
                seconds[fused.label] += max(r["end_s"] - r["start_s"], 1e-3)
    if not seconds:
        for r in rows:
            if r.get("kind") == "face" and r.get("label") in EMOTIONS:  # not "face turned away" and the like
                seconds[r["label"]] += 1
    return seconds.most_common(1)[0][0] if seconds else None


@contextlib.contextmanager
def _local_copy(path: str) -> Iterator[Path]:
    """``path`` as a local Path: itself, or a URI copied (streamed) to a temporary file of the same name."""
    if not is_uri(path):
        yield Path(path)
        return
    fs, inner = _filesystem(path)
    with tempfile.TemporaryDirectory(prefix="emotion-batch-") as tmp:
        local = Path(tmp) / (PurePosixPath(inner).name or "media")
        try:
            with fs.open_input_stream(inner) as src, open(local, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        except FileNotFoundError:
            raise InputError(f"no such file: {path}") from None
        except OSError as exc:
            raise InputError(f"{path} could not be read: {exc}") from None
        yield local


def _assets_here(settings: Settings, driver_assets: tuple[Path, Path] | None) -> Settings:
    """``settings`` with the driver's shipped models folder and Haar cascade (the defaults, on
    the driver's disk) replaced by this node's copies; paths a user set stay as they are."""
    from .assets import bundled_haar_cascade, bundled_models_dir

    if not driver_assets:
        return settings
    models, haar = driver_assets
    changes = {}
    if Path(settings.models_dir) == Path(models):
        changes["models_dir"] = bundled_models_dir()
    if Path(settings.haar_cascade) == Path(haar):
        changes["haar_cascade"] = bundled_haar_cascade()
    return dataclasses.replace(settings, **changes) if changes else settings


class FileAnalyzer:
    """A batch worker: loads every model once, then analyses files one after another through the
    one analysis core (:func:`emotion.analysis.analyze`: the same face, speech and video
    analyzers as the pages and the CLI). Ray Data runs it as the callable class of
    ``map_batches`` (one instance per actor); the local engine calls it the same way.

    Args:
        sample_fps: video frames analysed per media second.
        cpus: threads per model (onnxruntime intra-op, Whisper's CTranslate2, OpenCV); the CPUs
            its actor reserves.
        settings: the driver's :class:`~emotion.config.Settings` (default: from this process's
            environment), so a remote actor uses the same models, limits and options.
        driver_assets: (models folder, Haar cascade) the driver's package ships; where
            ``settings`` names them, this node uses its own copy (the package shipped to it).

    Raises:
        ModelError: (constructor) a model file is missing or corrupt.
    """

    def __init__(self, sample_fps: float = 2.0, cpus: int = 1, settings: Settings | None = None, driver_assets=None):
        import cv2

        from .analysis import Analyzers

        cv2.setNumThreads(cpus)
        self.sample_fps = float(sample_fps)
        self.analyzers = Analyzers(_assets_here(settings or Settings.from_env(), driver_assets), threads=cpus)
        self.analyzers.faces, self.analyzers.speech  # noqa: B018 - load every model now, not on the first file

    def analyze(self, f: InputFile) -> FileResult:
        """Analyse one file. Never raises for the file's sake: a failure is a result with
        status ``error`` and its message (unexpected exceptions too, named by their type)."""
        from .analysis import analyze

        t0 = time.perf_counter()
        kind, duration, rows, notes, status, error = f.media_kind, None, (), (), "ok", None
        try:
            if f.size_bytes < 0:
                raise InputError(f"no such file: {f.path}")
            if kind is None:
                raise InputError(
                    f"{PurePosixPath(f.path).name} is not a photo, audio or video file by its extension "
                    f"(accepted: {accepted_extensions()})"
                )
            with _local_copy(f.path) as local:
                result = analyze(local, analyzers=self.analyzers, sample_fps=self.sample_fps)  # the kind from the name
                kind, duration, notes = result.kind, result.duration_s, result.all_notes()
                rows = tuple(result.rows())
        except EmotionError as exc:  # InputError, ModelError: a message for the user
            status, error = "error", str(exc)
        except Exception as exc:  # a bug or an exotic failure: the file's row says what, the run goes on
            log.exception("unexpected error on %s", f.path)
            status, error = "error", f"unexpected {type(exc).__name__}: {exc}"
        return FileResult(
            f.path, kind, f.size_bytes, f.mtime_ns, duration, status, error, tuple(notes), rows, time.perf_counter() - t0
        )

    def __call__(self, batch):
        """``map_batches`` entry: a ``pyarrow.Table`` of files (path, size_bytes, mtime_ns,
        media_kind) -> a ``pyarrow.Table`` of results, one row per file (summary columns and the
        timeline rows as JSON)."""
        return _results_table([self.analyze(InputFile(**row)) for row in batch.to_pylist()])


def _results_table(results: list[FileResult]):
    import pyarrow as pa

    return pa.Table.from_pylist(
        [{**r.summary(), "rows_json": json.dumps(list(r.rows))} for r in results], schema=_result_schema()
    )


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
            )
        )
    return out


def _input_table(files: list[InputFile]):
    import pyarrow as pa

    return pa.Table.from_pylist([dataclasses.asdict(f) for f in files], schema=_input_schema())


# ---------------------------------------------------------------------------------------------
# The output


class ParquetStore:
    """``DIR/timeline/`` and ``DIR/summary/``, written in parts of the same name, each part
    written to a hidden temporary name and then renamed (readers skip names starting with ``.``),
    the timeline part before the summary part: a file is done when its summary row is there.

    Args:
        out: a local folder or a URI (``s3://bucket/prefix``); created when missing.

    Raises:
        BatchError: ``out`` cannot be created or written.
    """

    def __init__(self, out: str):
        from pyarrow import fs as pafs

        if is_uri(out):
            self.fs, self.base = _filesystem(out)
            self.base = self.base.rstrip("/")
        else:
            self.fs, self.base = pafs.LocalFileSystem(), str(Path(out).expanduser().resolve())
        try:
            if self.fs.get_file_info(self.base).type == pafs.FileType.File:
                raise BatchError(f"--out {out} is a file, not a folder")
            for sub in (TIMELINE_DIR, SUMMARY_DIR):
                self.fs.create_dir(f"{self.base}/{sub}", recursive=True)
        except OSError as exc:
            raise BatchError(f"the output folder {out} cannot be created: {exc}") from None

    def _parts(self, sub: str) -> set[str]:
        from pyarrow import fs as pafs

        infos = self.fs.get_file_info(pafs.FileSelector(f"{self.base}/{sub}", allow_not_found=True))
        return {PurePosixPath(i.path).name for i in infos if i.type == pafs.FileType.File and i.path.endswith(".parquet")}

    def _path(self, sub: str, name: str) -> str:
        return f"{self.base}/{sub}/{name}"

    def _read(self, sub: str, name: str, columns: list[str] | None = None):
        import pyarrow.parquet as pq

        return pq.read_table(self._path(sub, name), columns=columns, filesystem=self.fs)

    def _write(self, sub: str, name: str, table) -> None:
        import pyarrow.parquet as pq

        tmp = self._path(sub, f".{name}.{uuid.uuid4().hex[:8]}.tmp")
        pq.write_table(table, tmp, filesystem=self.fs)
        self.fs.move(tmp, self._path(sub, name))

    def _keep_only(self, sub: str, name: str, keep: set[str]) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        table = self._read(sub, name)
        kept = table.filter(pc.is_in(table["path"], value_set=pa.array(sorted(keep), pa.string())))
        if kept.num_rows == table.num_rows:
            return
        if kept.num_rows == 0:
            self.fs.delete_file(self._path(sub, name))
        else:
            self._write(sub, name, kept)

    def done(self, redo: Callable[[dict], bool]) -> dict[str, dict]:
        """Bring the store to a consistent state and return its files: path -> summary row
        (path, size_bytes, mtime_ns, status) of every file kept.

        Rows of files for which ``redo(row)`` is true are removed (summary first, then the
        timeline), as are timeline parts or rows that no summary row vouches for (left by an
        interrupted run) and summary parts whose timeline part is missing.
        """
        summaries, timelines = self._parts(SUMMARY_DIR), self._parts(TIMELINE_DIR)
        for name in timelines - summaries:  # an interrupted run wrote the timeline part only
            self.fs.delete_file(self._path(TIMELINE_DIR, name))
        kept: dict[str, dict] = {}
        for name in sorted(summaries):
            if name not in timelines:
                self.fs.delete_file(self._path(SUMMARY_DIR, name))
                continue
            rows = self._read(SUMMARY_DIR, name, ["path", "size_bytes", "mtime_ns", "status"]).to_pylist()
            keep = {r["path"] for r in rows if not redo(r) and r["path"] not in kept}
            if len(keep) < len(rows):
                self._keep_only(SUMMARY_DIR, name, keep)
            if set(self._read(TIMELINE_DIR, name, ["path"])["path"].to_pylist()) - keep:
                self._keep_only(TIMELINE_DIR, name, keep)
            kept.update({r["path"]: r for r in rows if r["path"] in keep})
        return kept

    def write(self, results: list[FileResult], name: str) -> None:
        """Write ``results`` as part ``name`` (``part-....parquet``) of both tables."""
        import pyarrow as pa

        timeline = pa.Table.from_pylist([row for r in results for row in r.timeline_rows()], schema=timeline_schema())
        summary = pa.Table.from_pylist([r.summary() for r in results], schema=summary_schema())
        self._write(TIMELINE_DIR, name, timeline)
        self._write(SUMMARY_DIR, name, summary)

    def path(self, sub: str) -> str:
        """Where table ``sub`` (``timeline`` or ``summary``) is, as the user would open it."""
        return f"{self.base}/{sub}"


# ---------------------------------------------------------------------------------------------
# Progress


class Progress:
    """A progress line on ``stream``: files done of the total, files per minute, media seconds per
    wall second, failures, and the time left at the rate so far. Redrawn in place on a terminal;
    elsewhere (logs, CI) a line at most every ``every_s`` seconds and at the end."""

    def __init__(self, total: int, stream=None, every_s: float = 10.0, enabled: bool = True):
        self.total, self.stream, self.every_s, self.enabled = total, stream or sys.stderr, every_s, enabled
        self.done = self.failed = 0
        self.media_s = 0.0
        self.t0 = time.perf_counter()
        self._last = float("-inf")
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def line(self) -> str:
        elapsed = max(time.perf_counter() - self.t0, 1e-9)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate > 0 else None
        eta = "?" if left is None else time.strftime("%H:%M:%S", time.gmtime(left))
        failed = f", {self.failed} failed" if self.failed else ""
        return (
            f"batch: {self.done}/{self.total} files ({self.done / max(self.total, 1):.0%}){failed}, "
            f"{rate * 60:.1f} files/min, {self.media_s / elapsed:.2f} media s per s, "
            f"elapsed {time.strftime('%H:%M:%S', time.gmtime(elapsed))}, left {eta}"
        )

    def update(self, result: FileResult) -> None:
        self.done += 1
        self.failed += result.status != "ok"
        self.media_s += result.duration_s or 0.0
        if not self.enabled:
            return
        now = time.perf_counter()
        if self._tty:
            self.stream.write("\r" + self.line() + "\033[K")
            self.stream.flush()
        elif now - self._last >= self.every_s or self.done == self.total:
            self._last = now
            print(self.line(), file=self.stream, flush=True)

    def close(self) -> None:
        if self.enabled and self._tty:
            self.stream.write("\n")
            self.stream.flush()


# ---------------------------------------------------------------------------------------------
# Engines


def _local_engine(todo: list[InputFile], sample_fps: float, cpus: int, settings: Settings) -> Iterator:
    analyzer = FileAnalyzer(sample_fps, cpus, settings)
    for f in todo:
        yield analyzer(_input_table([f]))


def _root_cause(exc: BaseException) -> BaseException:
    seen = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        nxt = getattr(exc, "cause", None) or exc.__cause__
        if nxt is None:
            break
        exc = nxt
    return exc


def _offline_env() -> dict[str, str]:
    """The telemetry switches (:data:`emotion.offline.OFFLINE_ENV`) as this process has them, for
    Ray workers, which may import onnxruntime before :mod:`emotion`."""
    from .offline import OFFLINE_ENV

    return {k: os.environ.get(k, v) for k, v in OFFLINE_ENV.items()}


@contextlib.contextmanager
def _ray_home() -> Iterator[None]:
    """HOME for the Ray processes started here: a folder of the app's cache holding an empty
    ``ray_bootstrap_config.yaml``. Ray's dashboard head otherwise probes the cloud's metadata
    servers (``metadata.google.internal``, ``169.254.169.254``) to report which cloud it runs on,
    whether or not usage statistics are on (Ray 2.60, ``usage_lib.get_cluster_config_to_report``),
    and writes ``~/.ray``; with the file there it reads the file instead. Ray's processes inherit
    HOME at start; this process's HOME is put back afterwards."""
    from .config import app_cache_dir

    home = app_cache_dir() / "ray-home"
    home.mkdir(parents=True, exist_ok=True)
    bootstrap = home / "ray_bootstrap_config.yaml"
    if not bootstrap.exists():
        bootstrap.write_text("{}\n")
    before = os.environ.get("HOME")
    os.environ["HOME"] = str(home)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("HOME", None)
        else:
            os.environ["HOME"] = before


def _package_dir() -> Path:
    return Path(__file__).resolve().parent


def _installed() -> bool:
    """Whether a fresh Python of this environment imports this package without help: installed
    as a wheel or in editable mode (``pip install .``, ``pip install -e .``)."""
    import importlib.metadata

    try:
        importlib.metadata.distribution("emotion-app")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def runtime_env(remote: bool) -> dict:
    """Ray's ``runtime_env`` for the batch job: the telemetry switches, and the package itself
    when the workers could not import it.

    - On this machine (no ``address``) the workers run this very Python: an installed package
      needs nothing shipped; a source checkout used without installing it ships its ``emotion``
      folder (``py_modules``; the models are read where the driver reads them, on this disk).
    - On a cluster (``address``), the installed package is shipped whole (``py_modules``: its
      folder holds the models, their cards and the Haar cascade, ~45 MB), so the nodes need only
      the dependencies (the cluster's image, or ``pip install emotion-app[batch]``).

    Raises:
        BatchError: a cluster is asked for from a source checkout (install the package first).
    """
    from .assets import installed_from_wheel

    env: dict = {"env_vars": _offline_env()}
    if remote:
        if not installed_from_wheel():
            raise BatchError(
                "--address needs the package installed (its models travel inside it): pip install '.[batch]' "
                "from the repository, then run the same command"
            )
        env["py_modules"] = [str(_package_dir())]
    elif not _installed():
        env["py_modules"] = [str(_package_dir())]
    return env


def ray_init(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Connect to Ray unless this process already is: ``address`` (``auto``, ``ray://host:10001``)
    joins a cluster, None starts Ray here with ``num_cpus`` CPUs (default: the machine's cores).
    The job's code is the installed package, never the repository (:func:`runtime_env`).
    Returns whether it connected (the caller then shuts Ray down).

    Raises:
        BatchError: Ray is not installed, cannot start or connect, or a cluster is asked for
            from a source checkout.
    """
    try:
        import ray
    except ImportError:
        raise BatchError("--engine ray needs Ray: pip install '.[batch]' (or -r requirements-batch.txt)") from None
    if ray.is_initialized():
        return False
    kwargs: dict = {"logging_level": logging.WARNING, "log_to_driver": True, "runtime_env": runtime_env(bool(address))}
    try:
        if address:
            ray.init(address=address, **kwargs)
        else:
            with _ray_home():
                ray.init(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False, **kwargs)
    except Exception as exc:  # ConnectionError, RuntimeError, ...: Ray's own messages
        raise BatchError(f"Ray could not {'connect to ' + address if address else 'start'}: {exc}") from None
    return True


def _ray_engine(todo: list[InputFile], sample_fps: float, cpus: int, workers: int | None, settings: Settings) -> Iterator:
    import ray
    import ray.data

    logging.getLogger("ray.data").setLevel(logging.WARNING)  # no execution plans on stderr
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # nor "progress bars disabled"
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # our own Progress covers both engines
    ctx.max_errored_blocks = len(todo)  # a worker lost on one file must not stop the run
    if workers is None:
        workers = max(1, int(ray.cluster_resources().get("CPU", 1) // cpus))
    ds = ray.data.from_items([dataclasses.asdict(f) for f in todo], override_num_blocks=min(len(todo), MAX_BLOCKS))
    with warnings.catch_warnings():  # max_task_retries has no named parameter yet in Ray 2.60 (pinned)
        warnings.filterwarnings("ignore", message=".*ray_remote_args.*is deprecated")
        ds = _map_files(ds, sample_fps, cpus, workers, settings)
    try:
        yield from ds.iter_batches(batch_size=None, batch_format="pyarrow", prefetch_batches=0)
    except Exception as exc:
        cause = _root_cause(exc)
        if isinstance(cause, EmotionError):
            raise cause from None
        raise BatchError(f"the Ray workers failed: {cause}") from None


def _shipped_assets() -> tuple[Path, Path]:
    from .assets import bundled_haar_cascade, bundled_models_dir

    return bundled_models_dir(), bundled_haar_cascade()


def _map_files(ds, sample_fps: float, cpus: int, workers: int, settings: Settings):
    import ray.data

    return ds.map_batches(
        FileAnalyzer,
        fn_constructor_kwargs={"sample_fps": sample_fps, "cpus": cpus, "settings": settings, "driver_assets": _shipped_assets()},
        batch_size=1,
        batch_format="pyarrow",
        num_cpus=cpus,
        compute=ray.data.ActorPoolStrategy(size=workers, max_tasks_in_flight_per_actor=1),
        # a file whose worker dies (killed when out of memory, a crash in a decoder) is tried on
        # TASK_RETRIES more workers, then given up (an error row); the actor itself restarts
        max_task_retries=TASK_RETRIES,
    )


# ---------------------------------------------------------------------------------------------
# The run


@dataclass(frozen=True)
class BatchReport:
    """What a run did.

    Attributes:
        out: the output folder; timeline, summary: where its two Parquet datasets are.
        files: files listed; skipped: done before (same path, size and mtime, status ok);
        analysed: analysed in this run, of which failed: status ``error``.
        media_s: media seconds analysed in this run (stated durations; photos count 0).
        wall_s: wall seconds from the engine's start (models loading included) to the last write.
        engine: ``local`` or ``ray``; workers: workers used (1 for local).
    """

    out: str
    timeline: str
    summary: str
    files: int
    skipped: int
    analysed: int
    failed: int
    media_s: float
    wall_s: float
    engine: str
    workers: int

    @property
    def files_per_min(self) -> float:
        return self.analysed / self.wall_s * 60 if self.wall_s > 0 else 0.0

    @property
    def media_s_per_s(self) -> float:
        """Media seconds analysed per wall second (×1 = real time)."""
        return self.media_s / self.wall_s if self.wall_s > 0 else 0.0


def run_batch(
    inputs: Iterable[str],
    out: str,
    engine: str = "local",
    address: str | None = None,
    sample_fps: float = 2.0,
    workers: int | None = None,
    force: bool = False,
    progress: bool = True,
    settings: BatchSettings | None = None,
    flush_files: int = FLUSH_FILES,
    flush_s: float = FLUSH_S,
    on_result: Callable[[FileResult], None] | None = None,
    app_settings: Settings | None = None,
) -> BatchReport:
    """Analyse every file of ``inputs`` (:func:`list_inputs`) into Parquet under ``out``
    (:class:`ParquetStore`), skipping files done before unless ``force``.

    Args:
        engine: ``local`` (one worker in this process) or ``ray`` (``workers`` actors on Ray Data;
            default: the cluster's CPUs / ``settings.worker_cpus``).
        address: Ray cluster to join (``auto``, ``ray://host:10001``); None starts Ray here.
        sample_fps: video frames analysed per media second.
        progress: print a progress line on stderr (:class:`Progress`).
        settings: :class:`BatchSettings` (default: from the environment).
        flush_files, flush_s: results are written every this many files or seconds.
        on_result: called with each :class:`FileResult` as it arrives (in completion order).
        app_settings: the models, limits and options of the analysis (default
            :meth:`Settings.from_env`), handed to every worker.

    Raises:
        InputError: no file found, a bad manifest, or a bad argument (``sample_fps`` <= 0, ``workers``
            with the local engine).
        BatchError: Ray is missing or failing, the output folder cannot be written.
        ModelError: a model is missing or corrupt.
    """
    if engine not in ("local", "ray"):
        raise InputError(f"unknown engine {engine!r}: local or ray")
    if not (math.isfinite(sample_fps) and 0 < sample_fps <= MAX_FPS):
        raise InputError(f"--fps must be a number above 0 and at most {MAX_FPS:g}, got {sample_fps}")
    if engine == "local" and (workers or 1) != 1:
        raise InputError("--workers needs --engine ray (the local engine is one process)")
    if engine == "local" and address:
        raise InputError("--address needs --engine ray")
    if workers is not None and workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    settings = settings or BatchSettings.from_env()
    app_settings = app_settings or Settings.from_env()
    inputs = list(inputs)
    files = list_inputs(inputs)
    if not files:
        raise InputError(f"no photo, audio or video files found in {', '.join(inputs)}")
    store = ParquetStore(out)
    listed = {f.path: f for f in files}

    def redo(row: dict) -> bool:  # a listed file whose row is not a success of this very version
        f = listed.get(row["path"])
        return f is not None and (force or row["status"] != "ok" or (row["size_bytes"], row["mtime_ns"]) != f.key[1:])

    done = store.done(redo)
    todo = [f for f in files if f.path not in done]
    bar = Progress(len(todo), enabled=progress)
    if progress:
        print(
            f"batch: {len(files)} files, {len(files) - len(todo)} done before (skipped), {len(todo)} to analyse "
            f"with the {engine} engine",
            file=sys.stderr,
        )
    run_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    pending: list[FileResult] = []
    seq, last_flush, seen, started_ray = 0, time.perf_counter(), set(), False
    t0 = time.perf_counter()

    def flush() -> None:
        nonlocal seq, last_flush
        if pending:
            store.write(pending, f"part-{run_id}-{seq:05d}.parquet")
            seq += 1
            pending.clear()
        last_flush = time.perf_counter()

    n_workers = 1
    try:
        if todo and engine == "ray":
            started_ray = ray_init(address)
            import ray

            n_workers = workers or max(1, int(ray.cluster_resources().get("CPU", 1) // settings.worker_cpus))
            batches = _ray_engine(todo, sample_fps, settings.worker_cpus, n_workers, app_settings)
        elif todo:
            batches = _local_engine(todo, sample_fps, settings.worker_cpus, app_settings)
        else:
            batches = iter(())
        for table in batches:
            for result in _results_from_table(table):
                seen.add(result.path)
                pending.append(result)
                bar.update(result)
                if on_result:
                    on_result(result)
            if len(pending) >= flush_files or time.perf_counter() - last_flush >= flush_s:
                flush()
        for f in todo:  # Ray lost the worker while it held this file (killed: out of memory, a crash)
            if f.path not in seen:
                result = FileResult(
                    f.path, f.media_kind, f.size_bytes, f.mtime_ns, None, "error",
                    "no result came back: the worker analysing this file was lost (out of memory, or a crash)",
                    (), (), 0.0,
                )  # fmt: skip
                pending.append(result)
                bar.update(result)
                if on_result:
                    on_result(result)
    finally:
        flush()
        bar.close()
        if started_ray:
            import ray

            ray.shutdown()
    wall = time.perf_counter() - t0
    return BatchReport(
        store.base,
        store.path(TIMELINE_DIR),
        store.path(SUMMARY_DIR),
        len(files),
        len(files) - len(todo),
        bar.done,
        bar.failed,
        bar.media_s,
        wall,
        engine,
        n_workers if engine == "ray" else 1,
    )


# ---------------------------------------------------------------------------------------------
# Command line


def main(argv: list[str]) -> int:
    """``python -m emotion batch ...``: exit code 0 when every file analysed, 1 when some failed
    (their rows say why) or the run could not start (a message on stderr), 2 for a usage error."""
    ap = argparse.ArgumentParser(
        prog="python -m emotion batch",
        description="Analyse photos, audio and video files in bulk into Parquet (docs/batch.md).",
    )
    ap.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders (recursive), .txt/.csv manifests, or URIs")
    ap.add_argument("--out", required=True, metavar="DIR", help="output folder (or URI): DIR/timeline and DIR/summary")
    ap.add_argument("--engine", choices=("local", "ray"), default="local", help="local: one process (default); ray: Ray Data")
    ap.add_argument("--address", help="Ray cluster to join: auto, or ray://HOST:10001 (default: start Ray here)")
    ap.add_argument("--fps", type=float, default=2.0, help="video: frames analysed per second (default 2)")
    ap.add_argument("--workers", type=int, help="Ray actors (default: the cluster's CPUs / EMOTION_BATCH_WORKER_CPUS)")
    ap.add_argument("--force", action="store_true", help="analyse again files done before")
    ap.add_argument("--no-progress", action="store_true", help="no progress line")
    args = ap.parse_args(argv)
    try:
        report = run_batch(
            args.inputs,
            args.out,
            engine=args.engine,
            address=args.address,
            sample_fps=args.fps,
            workers=args.workers,
            force=args.force,
            progress=not args.no_progress,
        )
    except (EmotionError, ValueError) as exc:
        print(terminal(f"error: {exc}"), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: the files finished are written; run the same command again to go on", file=sys.stderr)
        return 130
    print(
        f"{report.files} files: {report.analysed} analysed ({report.failed} failed), {report.skipped} skipped (done before); "
        f"{report.files_per_min:.1f} files/min, {report.media_s_per_s:.2f} media s per s\n"
        f"timeline: {terminal(report.timeline)}\nsummary:  {terminal(report.summary)}",
        file=sys.stderr,
    )
    return 1 if report.failed else 0
