"""Time series of emotion probabilities (safe to write from a WebRTC worker thread and read
from the page) and the timeline of a session or a file analysis: its rows (:func:`face_row`,
:func:`utterance_row`, :func:`fused_row`) and its exports (CSV, JSON, pandas, Arrow), all from
the one declaration :data:`emotion.schema.TIMELINE`."""

from __future__ import annotations

import threading
from collections import deque

import numpy as np

from .labels import EMOTIONS, NUM_EMOTIONS
from .schema import TIMELINE, AcousticStatus, FaceStatus, TranscriptStatus


class ProbabilityTrend:
    """A rolling window of (time in seconds, probabilities [7]) samples.

    Args:
        window_s: samples older than this many seconds before the newest are dropped.
        max_samples: hard cap on stored samples (bounded memory at any frame rate).

    ``add`` and ``snapshot`` may be called from different threads.
    """

    def __init__(self, window_s: float = 60.0, max_samples: int = 5000):
        self.window_s = float(window_s)
        self._lock = threading.Lock()
        self._samples: deque[tuple[float, np.ndarray]] = deque(maxlen=max_samples)

    def add(self, t: float, probabilities: np.ndarray) -> None:
        """Append one sample at ``t`` seconds; ``probabilities`` float (7,)."""
        p = np.asarray(probabilities, dtype=np.float32).reshape(NUM_EMOTIONS)
        with self._lock:
            self._samples.append((float(t), p))
            while self._samples and self._samples[0][0] < t - self.window_s:
                self._samples.popleft()

    def snapshot(self) -> tuple[np.ndarray, np.ndarray]:
        """(times float64 [n] seconds, probabilities float32 [n, 7]), oldest first."""
        with self._lock:
            samples = list(self._samples)
        if not samples:
            return np.zeros(0), np.zeros((0, NUM_EMOTIONS), np.float32)
        return np.array([s[0] for s in samples]), np.stack([s[1] for s in samples])

    def clear(self) -> None:
        with self._lock:
            self._samples.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._samples)


TIMELINE_COLUMNS: tuple[str, ...] = TIMELINE.names
"""Columns of a timeline export, one row per face, utterance or fused estimate: declared, with
their dtypes, units and meanings, in :data:`emotion.schema.TIMELINE`."""


def _probs(prefix: str, p) -> dict:
    if p is None:
        return {}
    return {f"{prefix}_{e}": round(float(v), 4) for e, v in zip(EMOTIONS, np.asarray(p).reshape(-1), strict=True)}


def seconds(t: float) -> float:
    """A media time in seconds as the timeline holds it: rounded to 1 ms, never ``-0.0`` (a time a
    float error put just below the clock's 0 s reads 0.0, not "-0.0")."""
    return round(float(t), 3) + 0.0


def face_row(face, t: float, source: str) -> dict:
    """Timeline row of a face (:class:`~emotion.face.analyzer.FaceEmotion` or tracked face) at ``t`` s;
    a face whose expression cannot be read has its ``face_status``, no label and no probabilities."""
    x, y, w, h = face.box
    status = FaceStatus(getattr(face, "status", FaceStatus.READ))
    readable = status is FaceStatus.READ
    return {
        "kind": "face",
        "source": source,
        "start_s": seconds(t),
        "end_s": seconds(t),
        "face_id": getattr(face, "face_id", None),
        "x": x,
        "y": y,
        "w": w,
        "h": h,
        "face_status": status,
        "label": face.label if readable else None,
        **(_probs("face", face.probabilities) if readable else {}),
    }


def utterance_row(u, source: str) -> dict:
    """Timeline row of an :class:`~emotion.speech.analyzer.Utterance`."""
    return {
        "kind": "utterance",
        "source": source,
        "start_s": seconds(u.start_s),
        "end_s": seconds(u.end_s),
        "text": u.text,
        "language": u.language,
        "translation": u.translation,
        "transcript_status": TranscriptStatus(u.transcript_status),
        "semantic_label": u.semantic_label,
        **_probs("semantic", u.semantic),
        "acoustic_label": u.acoustic_label,
        "acoustic_status": None if u.acoustic_status is None else AcousticStatus(u.acoustic_status),
        **_probs("acoustic", u.acoustic),
    }


def fused_row(fused, start_s: float, end_s: float, source: str) -> dict:
    """Timeline row of a :class:`~emotion.fusion.FusedEstimate` over [start_s, end_s]."""
    return {
        "kind": "fused",
        "source": source,
        "start_s": seconds(start_s),
        "end_s": seconds(end_s),
        "face_id": getattr(fused, "face_id", None),
        "label": fused.label,
        **_probs("face", fused.probabilities),
    }


class Timeline:
    """Rows of a session or a file analysis (:data:`emotion.schema.TIMELINE`), exportable as
    CSV, JSON, a pandas DataFrame or an Arrow table. Thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self._rows: list[dict] = []

    def add(self, row: dict) -> None:
        """Add one row (its values cast to their columns' types; statuses become their values).

        Raises:
            ValueError: a key that is not a timeline column, or a status outside its enum.
        """
        row = TIMELINE.check(row)
        with self._lock:
            self._rows.append(row)

    def rows(self) -> list[dict]:
        """Every row, ordered by start time (stable); each holds the columns it fills."""
        with self._lock:
            rows = list(self._rows)
        return sorted(rows, key=lambda r: r["start_s"])

    def to_csv(self) -> str:
        """CSV text with a header of :data:`TIMELINE_COLUMNS` (empty cells where a column does not
        apply). Text cells (transcripts, file names) are made safe for spreadsheets
        (:func:`~emotion.sanitize.csv_cell`: no formula, control characters escaped); the JSON
        export keeps the exact text."""
        return TIMELINE.to_csv(self.rows())

    def to_json(self) -> str:
        """JSON text: ``{"columns": [...], "labels": [...], "rows": [...]}``."""
        return TIMELINE.to_json(self.rows())

    def to_pandas(self):
        """A ``pandas.DataFrame``, one column per :data:`TIMELINE_COLUMNS` (:meth:`emotion.schema.Schema.to_pandas`)."""
        return TIMELINE.to_pandas(self.rows())

    def to_arrow(self):
        """A ``pyarrow.Table`` (:meth:`emotion.schema.Schema.to_arrow`; needs pyarrow)."""
        return TIMELINE.to_arrow(self.rows())
