"""The output: ``DIR/timeline/`` and ``DIR/summary/`` as Parquet parts (:class:`ParquetStore`)."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

from pyarrow import fs as pafs

from ..errors import BatchError
from .inputs import _filesystem, is_uri
from .results import SUMMARY_DIR, TIMELINE_DIR, FileResult, summary_schema, timeline_schema

log = logging.getLogger(__name__)

LOCK_NAME = ".lock"
"""The file in the output folder that a run holds (:meth:`ParquetStore.lock`)."""


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

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the output folder for one run: a second run on the same folder refuses at once
        (it would delete the first one's parts as an interrupted run's).

        A local folder is locked with ``flock`` on ``DIR/.lock`` (released by the kernel however
        the run ends); a URI gets a ``DIR/.lock`` object naming the run, removed at the end (a
        run killed outright leaves it: the message says to delete it).

        Raises:
            BatchError: another run holds the folder.
        """
        path = f"{self.base}/{LOCK_NAME}"
        if isinstance(self.fs, pafs.LocalFileSystem):
            import fcntl

            with open(path, "a+") as f:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    f.seek(0)
                    raise BatchError(
                        f"another batch run is writing to {self.base} ({f.read().strip() or 'a running process'}): "
                        "wait for it to finish, or give another --out"
                    ) from None
                f.seek(0)
                f.truncate()
                f.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
                f.flush()
                try:
                    yield
                finally:
                    fcntl.flock(f, fcntl.LOCK_UN)
            return
        if self.fs.get_file_info(path).type != pafs.FileType.NotFound:
            with self.fs.open_input_stream(path) as f:
                holder = f.read().decode("utf-8", "replace").strip()
            raise BatchError(f"another batch run is writing to {self.base} ({holder}); if none is, delete {path} and run again")
        with self.fs.open_output_stream(path) as f:
            f.write(f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%dT%H:%M:%S')}\n".encode())
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                self.fs.delete_file(path)

    def _remove_stale_temporaries(self) -> None:
        """Delete the hidden ``.part-*.tmp`` files an interrupted run left (the lock says no
        other run is writing them)."""
        for sub in (TIMELINE_DIR, SUMMARY_DIR):
            infos = self.fs.get_file_info(pafs.FileSelector(f"{self.base}/{sub}", allow_not_found=True))
            for i in infos:
                name = PurePosixPath(i.path).name
                if i.type == pafs.FileType.File and name.startswith(".") and name.endswith(".tmp"):
                    with contextlib.suppress(OSError):
                        self.fs.delete_file(i.path)

    def done(self, redo: Callable[[dict], bool]) -> dict[str, dict]:
        """Bring the store to a consistent state and return its files: path -> summary row
        (path, size_bytes, mtime_ns, status, fingerprint) of every file kept. Hidden
        temporary files an interrupted run left are deleted first.

        Rows of files for which ``redo(row)`` is true are removed (summary first, then the
        timeline), as are timeline parts or rows that no summary row vouches for (left by an
        interrupted run) and summary parts whose timeline part is missing.
        """
        self._remove_stale_temporaries()
        summaries, timelines = self._parts(SUMMARY_DIR), self._parts(TIMELINE_DIR)
        for name in timelines - summaries:  # an interrupted run wrote the timeline part only
            self.fs.delete_file(self._path(TIMELINE_DIR, name))
        kept: dict[str, dict] = {}
        for name in sorted(summaries):
            if name not in timelines:
                self.fs.delete_file(self._path(SUMMARY_DIR, name))
                continue
            table = self._read(SUMMARY_DIR, name)
            wanted = [c for c in ("path", "size_bytes", "mtime_ns", "status", "fingerprint") if c in table.column_names]
            rows = [{"fingerprint": None, **r} for r in table.select(wanted).to_pylist()]  # parts before 0.2 have none
            keep = {r["path"] for r in rows if not redo(r) and r["path"] not in kept}
            if len(keep) < len(rows):
                self._keep_only(SUMMARY_DIR, name, keep)
            if set(self._read(TIMELINE_DIR, name, ["path"])["path"].to_pylist()) - keep:
                self._keep_only(TIMELINE_DIR, name, keep)
            kept.update({r["path"]: r for r in rows if r["path"] in keep})
        return kept

    def write(self, results: list[FileResult], name: str, fingerprint: str = "") -> None:
        """Write ``results`` as part ``name`` (``part-....parquet``) of both tables, each summary
        row with the run's ``fingerprint`` (:func:`~.results.analysis_fingerprint`)."""
        import pyarrow as pa

        timeline = pa.Table.from_pylist([row for r in results for row in r.timeline_rows()], schema=timeline_schema())
        summary = pa.Table.from_pylist([{**r.summary(), "fingerprint": fingerprint} for r in results], schema=summary_schema())
        self._write(TIMELINE_DIR, name, timeline)
        self._write(SUMMARY_DIR, name, summary)

    def path(self, sub: str) -> str:
        """Where table ``sub`` (``timeline`` or ``summary``) is, as the user would open it."""
        return f"{self.base}/{sub}"
