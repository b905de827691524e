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

The package's modules, one concern each: :mod:`.inputs` (what to analyse), :mod:`.results` (one
file's result, the columns and schemas), :mod:`.store` (the Parquet output), :mod:`.engines`
(the workers, local and on Ray), :mod:`.run` (a run and its command line).
"""

from ..errors import BatchError
from .engines import TASK_RETRIES, FileAnalyzer, ray_init, runtime_env
from .inputs import MANIFEST_EXTENSIONS, MEDIA_KINDS, InputFile, _local_copy, is_uri, list_inputs
from .results import (
    BATCH_TIMELINE_COLUMNS,
    FILE_COLUMNS,
    SUMMARY_COLUMNS,
    SUMMARY_DIR,
    TIMELINE_DIR,
    FileResult,
    dominant_emotion,
    summary_schema,
    timeline_schema,
)
from .run import FLUSH_FILES, FLUSH_S, BatchReport, BatchSettings, Progress, main, run_batch
from .store import ParquetStore

__all__ = [
    "BATCH_TIMELINE_COLUMNS",
    "FILE_COLUMNS",
    "FLUSH_FILES",
    "FLUSH_S",
    "MANIFEST_EXTENSIONS",
    "MEDIA_KINDS",
    "SUMMARY_COLUMNS",
    "SUMMARY_DIR",
    "TASK_RETRIES",
    "TIMELINE_DIR",
    "BatchError",
    "BatchReport",
    "BatchSettings",
    "FileAnalyzer",
    "FileResult",
    "InputFile",
    "ParquetStore",
    "Progress",
    "_local_copy",
    "dominant_emotion",
    "is_uri",
    "list_inputs",
    "main",
    "ray_init",
    "run_batch",
    "runtime_env",
    "summary_schema",
    "timeline_schema",
]
