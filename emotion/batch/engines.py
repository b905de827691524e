"""The workers (:class:`FileAnalyzer`) and the two engines that run them: in this process, or on
Ray Data (:func:`ray_init`, :func:`runtime_env`)."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
import warnings
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from ..config import Settings
from ..errors import BatchError, EmotionError, InputError
from ..formats import accepted_extensions
from .inputs import InputFile, _local_copy
from .results import FileResult, _input_table, _results_table

log = logging.getLogger(__name__)

TASK_RETRIES = 2
"""Times Ray retries a file whose worker died (a node lost, killed for memory, a crash)."""
MAX_BLOCKS = 20_000


def _assets_here(settings: Settings, driver_assets: tuple[Path, Path] | None) -> Settings:
    """``settings`` with the driver's shipped models folder and Haar cascade (the defaults, on
    the driver's disk) replaced by this node's copies; paths a user set stay as they are."""
    from ..assets import bundled_haar_cascade, bundled_models_dir

    if not driver_assets:
        return settings
    models, haar = driver_assets
    changes = {}
    if Path(settings.models_dir) == Path(models):
        changes["models_dir"] = bundled_models_dir()
    if Path(settings.haar_cascade) == Path(haar):
        changes["haar_cascade"] = bundled_haar_cascade()
    return settings.replace(**changes) if changes else settings


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

    def __init__(
        self,
        sample_fps: float = 2.0,
        cpus: int = 1,
        settings: Settings | None = None,
        driver_assets: tuple[Path, Path] | None = None,
    ):
        import cv2

        from ..analysis import Analyzers

        cv2.setNumThreads(cpus)
        self.sample_fps = float(sample_fps)
        self.analyzers = Analyzers(_assets_here(settings or Settings.from_env(), driver_assets), threads=cpus)
        self.analyzers.faces, self.analyzers.speech  # noqa: B018 - load every model now, not on the first file

    def analyze(self, f: InputFile) -> FileResult:
        """Analyse one file. Never raises for the file's sake: a failure is a result with
        status ``error`` and its message (unexpected exceptions too, named by their type)."""
        from ..analysis import analyze

        t0 = time.perf_counter()
        kind, duration, rows, notes, status, error = f.media_kind, None, (), (), "ok", None
        faces, speech_status = 0, None
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
                faces, speech_status = result.face_count(), result.speech_status
        except EmotionError as exc:  # InputError, ModelError: a message for the user
            status, error = "error", str(exc)
        except Exception as exc:  # a bug or an exotic failure: the file's row says what, the run goes on
            log.exception("unexpected error on %s", f.path)
            status, error = "error", f"unexpected {type(exc).__name__}: {exc}"
        return FileResult(
            f.path, kind, f.size_bytes, f.mtime_ns, duration, status, error, tuple(notes), rows, time.perf_counter() - t0,
            faces, None if speech_status is None else str(speech_status),
        )  # fmt: skip

    def __call__(self, batch):
        """``map_batches`` entry: a ``pyarrow.Table`` of files (path, size_bytes, mtime_ns,
        media_kind) -> a ``pyarrow.Table`` of results, one row per file (summary columns and the
        timeline rows as JSON)."""
        return _results_table([self.analyze(InputFile(**row)) for row in batch.to_pylist()])


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
    from ..offline import OFFLINE_ENV

    return {k: os.environ.get(k, v) for k, v in OFFLINE_ENV.items()}


@contextlib.contextmanager
def _ray_home() -> Iterator[None]:
    """HOME for the Ray processes started here: a folder of the app's cache holding an empty
    ``ray_bootstrap_config.yaml``. Ray's dashboard head otherwise probes the cloud's metadata
    servers (``metadata.google.internal``, ``169.254.169.254``) to report which cloud it runs on,
    whether or not usage statistics are on (Ray 2.60, ``usage_lib.get_cluster_config_to_report``),
    and writes ``~/.ray``; with the file there it reads the file instead. Ray's processes inherit
    HOME at start; this process's HOME is put back afterwards."""
    from ..config import app_cache_dir

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
    return Path(__file__).resolve().parents[1]  # emotion/


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
    from ..assets import installed_from_wheel

    if remote and not installed_from_wheel():
        raise BatchError(
            "--address needs the package installed (its models travel inside it): pip install '.[batch]' "
            "from the repository, then run the same command"
        )
    env: dict = {"env_vars": _offline_env()}
    if remote or not _installed():
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
    from ..assets import bundled_haar_cascade, bundled_models_dir

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
