"""Jobs: files too large or too long to answer at once are analysed in the background; ``GET
/v1/jobs/{id}`` gives the progress (media seconds done of total), then the result. Bounded: at
most ``EMOTION_SERVE_MAX_JOBS`` jobs (queued, running, or done and kept), each kept
``EMOTION_SERVE_JOB_TTL_S`` seconds after it ends; nothing of a job outlives that (its upload is
removed when it ends).

With several uvicorn workers (``emotion serve --workers N``) a poll may reach another worker than
the one running the job: each job's state is also written, as JSON, to a folder the workers of
one server share (mode 0700, named after their parent process), and read from there.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .problems import ApiError, problem_of

log = logging.getLogger(__name__)


@dataclass
class Job:
    """One job's state (changed by its worker thread under :attr:`JobStore._lock`)."""

    id: str
    status: str = "queued"  # queued, running, done, failed
    stage: str | None = None
    done_s: float = 0.0
    total_s: float | None = None
    result: dict | None = None
    problem: dict | None = None
    ended_at: float | None = None  # wall-clock time (s since the epoch): shared by the workers
    created_at: float = field(default_factory=time.time)


class JobStore:
    """The jobs of one app.

    Args:
        max_jobs: jobs held at once (queued, running, or done and kept).
        ttl_s: seconds a job is kept after it ends.
        workers: jobs analysed at once (each still waits for an analysis slot).
        clock: wall clock in seconds since the epoch (the workers' common clock).
        folder: where the job states are shared (default: one per parent process, see the module).
    """

    PROGRESS_WRITE_S = 0.5
    """A running job's progress is written to the shared folder at most this often."""

    def __init__(
        self, max_jobs: int, ttl_s: float, workers: int = 2, clock: Callable[[], float] = time.time, folder: Path | None = None
    ):
        self.max_jobs, self.ttl_s, self.clock = int(max_jobs), float(ttl_s), clock
        self.folder = folder or Path(tempfile.gettempdir()) / f"emotion-jobs-{os.getuid()}-{os.getppid()}"
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._written: dict[str, float] = {}
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="emotion-job")

    def _expire(self) -> None:
        now = self.clock()
        for job_id in [i for i, j in self._jobs.items() if j.ended_at is not None and now - j.ended_at > self.ttl_s]:
            del self._jobs[job_id]
            self._written.pop(job_id, None)
            (self.folder / f"{job_id}.json").unlink(missing_ok=True)

    def _write(self, job: Job, force: bool = False) -> None:
        """The job's state to the shared folder (call under the lock); at most every
        :data:`PROGRESS_WRITE_S` while it runs, always when it starts or ends."""
        now = time.monotonic()
        if not force and now - self._written.get(job.id, 0.0) < self.PROGRESS_WRITE_S:
            return
        self._written[job.id] = now
        path = self.folder / f"{job.id}.json"
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(asdict(job)), encoding="utf-8")
            tmp.replace(path)
        except OSError:
            log.warning("the state of job %s could not be shared with the other workers", job.id, exc_info=True)

    def submit(self, run: Callable[[Callable[[str, float, float | None], None]], dict], cleanup: Callable[[], None]) -> Job:
        """Start ``run(progress)`` in the background; it returns the result (a dict) or raises
        (:class:`~.problems.ApiError`, or an error the app's handlers turn into a problem: see
        :func:`~.problems.problem_of`). ``cleanup()`` runs when it ends, whatever happened.

        Raises:
            ApiError: 503 ``busy``: ``max_jobs`` jobs are held.
        """
        with self._lock:
            self._expire()
            if len(self._jobs) >= self.max_jobs:
                cleanup()
                raise ApiError(
                    503, "busy", f"{self.max_jobs} jobs are already held; retry when one has ended", {"Retry-After": "10"}
                )
            job = Job(secrets.token_urlsafe(12))
            self._jobs[job.id] = job
            self._write(job, force=True)

        def progress(stage: str, done_s: float, total_s: float | None) -> None:
            with self._lock:
                new_stage = stage != job.stage
                job.stage, job.done_s, job.total_s = stage, float(done_s), total_s
                self._write(job, force=new_stage)

        def work() -> None:
            with self._lock:
                job.status = "running"
                self._write(job, force=True)
            result, problem = None, None
            try:
                result = run(progress)
            except Exception as exc:  # noqa: BLE001 - the job's problem, never the thread's death
                problem = problem_of(exc)
            finally:
                try:
                    cleanup()
                except Exception:  # noqa: BLE001 - a leftover temporary file must not leave the job running forever
                    log.warning("the files of job %s could not be removed", job.id, exc_info=True)
                # The end is one step under the lock: a reader never sees "done" without its
                # result and its expiry (CI once polled between two separate steps).
                with self._lock:
                    if problem is None and result is not None:
                        job.result, job.status = result, "done"
                    else:
                        job.problem = problem or problem_of(RuntimeError("the job ended without a result"))
                        job.status = "failed"
                    job.ended_at = self.clock()
                    self._write(job, force=True)

        self._pool.submit(work)
        return job

    def get(self, job_id: str) -> tuple[Job, float | None]:
        """A copy of the job and the seconds before it is forgotten (None while it runs).

        Raises:
            ApiError: 404, no such job (or it expired).
        """
        with self._lock:
            self._expire()
            job = self._jobs.get(job_id) or self._shared(job_id)
            if job is None:
                raise ApiError(404, "not_found", f"no job {job_id!r}: it never existed, or it ended over {self.ttl_s:g} s ago")
            left = None if job.ended_at is None else max(0.0, self.ttl_s - (self.clock() - job.ended_at))
            return Job(**vars(job)), left

    def _shared(self, job_id: str) -> Job | None:
        """A job another worker runs (or ran), from the shared folder; None when there is none or it expired."""
        if not job_id.replace("-", "").replace("_", "").isalnum():
            return None
        try:
            job = Job(**json.loads((self.folder / f"{job_id}.json").read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None
        if job.ended_at is not None and self.clock() - job.ended_at > self.ttl_s:
            (self.folder / f"{job_id}.json").unlink(missing_ok=True)
            return None
        return job

    def active(self) -> int:
        """Jobs queued or running."""
        with self._lock:
            return sum(1 for j in self._jobs.values() if j.ended_at is None)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            for job_id in list(self._jobs):
                (self.folder / f"{job_id}.json").unlink(missing_ok=True)
