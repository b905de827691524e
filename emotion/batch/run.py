"""A batch run (:func:`run_batch`) and its command line (:func:`main`)."""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..config import MAX_SAMPLE_FPS as MAX_FPS
from ..config import Settings
from ..errors import EmotionError, InputError
from ..sanitize import terminal
from .engines import _local_engine, _ray_engine, ray_init
from .inputs import list_inputs
from .results import SUMMARY_DIR, TIMELINE_DIR, FileResult, _results_from_table, analysis_fingerprint
from .store import ParquetStore

log = logging.getLogger(__name__)

FLUSH_FILES = 256
"""Results are written at least every this many files..."""
FLUSH_S = 60.0
"""...and at least every this many seconds (what an interrupted run loses at most)."""


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
        """Settings from the environment (:attr:`emotion.config.Settings.batch_worker_cpus`).

        Raises:
            ValueError: ``EMOTION_BATCH_WORKER_CPUS`` (or another ``EMOTION_*`` variable) is not valid.
        """
        return cls(worker_cpus=Settings.from_env().batch_worker_cpus)


class Progress:
    """The run's progress bar on ``stream`` (tqdm): files done of the total, the rate, the time
    left, failures and media seconds per wall second. Redrawn in place on a terminal; elsewhere
    (logs, CI) a line at most every ``every_s`` seconds. ``done``, ``failed`` and ``media_s``
    count what came back."""

    def __init__(self, total: int, stream=None, every_s: float = 10.0, enabled: bool = True):
        from tqdm import tqdm

        self.stream = stream or sys.stderr
        self.done = self.failed = 0
        self.media_s = 0.0
        self.t0 = time.perf_counter()
        tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._bar = tqdm(
            total=total,
            desc="batch",
            unit="file",
            file=self.stream,
            disable=not enabled,
            mininterval=0.5 if tty else every_s,
            maxinterval=every_s,
            dynamic_ncols=tty,
            ascii=not tty,
        )

    def update(self, result: FileResult) -> None:
        self.done += 1
        self.failed += result.status != "ok"
        self.media_s += result.duration_s or 0.0
        elapsed = max(time.perf_counter() - self.t0, 1e-9)
        self._bar.set_postfix_str(f"{self.failed} failed, {self.media_s / elapsed:.2f} media s/s", refresh=False)
        self._bar.update(1)

    def close(self) -> None:
        self._bar.close()


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
    (:class:`ParquetStore`), holding the folder for this run (:meth:`ParquetStore.lock`).

    A file is done, and skipped, when a summary row has its path, size and modification time,
    status ``ok`` and the fingerprint of this run (:func:`~.results.analysis_fingerprint`: the
    package version, ``sample_fps``, the settings and the model files); anything else is
    analysed again, its old rows removed first, and ``force`` redoes every file. A listed file
    that cannot be read now (size -1) keeps the good rows of an earlier run.

    Args:
        engine: ``local`` (one worker in this process) or ``ray`` (``workers`` actors on Ray Data;
            default: the cluster's CPUs / ``settings.worker_cpus``).
        address: Ray cluster to join (``auto``, ``ray://host:10001``); None starts Ray here.
        sample_fps: video frames analysed per media second.
        progress: print a progress line on stderr (:class:`Progress`).
        settings: :class:`BatchSettings` (default: from the environment).
        flush_files: results are written every this many files...
        flush_s: ...or every this many seconds, whichever comes first.
        on_result: called with each :class:`FileResult` as it arrives (in completion order).
        app_settings: the models, limits and options of the analysis (default
            :meth:`Settings.from_env`), handed to every worker.

    Raises:
        InputError: no file found, a bad manifest, or a bad argument (``sample_fps`` <= 0, ``workers``
            with the local engine).
        BatchError: Ray is missing or failing, the output folder cannot be written, or another
            run holds it.
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
    with store.lock():  # a second run on this folder refuses (BatchError)
        listed = {f.path: f for f in files}

        fingerprint = analysis_fingerprint(app_settings, sample_fps)
        unreadable = {f.path for f in files if f.size_bytes < 0}  # listed, but not there now

        def redo(row: dict) -> bool:  # a listed file whose row is not a success of this very analysis
            f = listed.get(row["path"])
            if f is None or (f.path in unreadable and row["status"] == "ok"):
                return False  # not listed, or briefly unreadable: its earlier good rows stay
            return (
                force
                or row["status"] != "ok"
                or (row["size_bytes"], row["mtime_ns"]) != f.key[1:]
                or row["fingerprint"] != fingerprint
            )

        done = store.done(redo)
        kept_unreadable = sorted(unreadable & done.keys())
        todo = [f for f in files if f.path not in done]
        bar = Progress(len(todo), enabled=progress)
        if progress:
            print(
                f"batch: {len(files)} files, {len(files) - len(todo)} done before (skipped), {len(todo)} to analyse "
                f"with the {engine} engine",
                file=sys.stderr,
            )
        if kept_unreadable:
            print(
                terminal(
                    f"batch: {len(kept_unreadable)} listed file(s) cannot be read now (e.g. {kept_unreadable[0]}); "
                    "their rows from an earlier run are kept"
                ),
                file=sys.stderr,
            )
        run_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
        pending: list[FileResult] = []
        seq, last_flush, seen, started_ray = 0, time.perf_counter(), set(), False
        t0 = time.perf_counter()

        def flush() -> None:
            nonlocal seq, last_flush
            if pending:
                store.write(pending, f"part-{run_id}-{seq:05d}.parquet", fingerprint)
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
