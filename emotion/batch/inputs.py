"""What to analyse: files, folders, manifests and URIs, listed with their size and modification
time (:func:`list_inputs`), and a local copy of a remote file while it is analysed."""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from ..errors import BatchError, InputError
from ..formats import extension as _extension
from ..formats import media_kind_of

log = logging.getLogger(__name__)

MEDIA_KINDS = ("image", "video", "audio")
"""What a file holds (``media_kind``): a photo, a video (faces + soundtrack) or audio."""
MANIFEST_EXTENSIONS = ("txt", "csv")
"""An INPUT with one of these extensions is a manifest: a list of paths (see :func:`list_inputs`)."""


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
    """The URI of ``path``, a file found under the folder ``uri``, as a file system lists it.

    Object stores list ``bucket/key`` (the bucket is the URI's authority); HDFS, WebHDFS and
    the like list ``/dir/file`` without their ``host:port``, which is kept from ``uri``
    (``hdfs://namenode:8020/data`` -> ``hdfs://namenode:8020/data/a.wav``)."""
    parts = urlsplit(uri)
    if parts.scheme in ("file", "memory"):
        return f"{parts.scheme}://{path}"
    inner = path.lstrip("/")
    if parts.netloc and inner != parts.netloc and not inner.startswith(parts.netloc + "/"):
        return f"{parts.scheme}://{parts.netloc}/{inner}"
    return f"{parts.scheme}://{inner}"


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
