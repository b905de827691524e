"""Time series of emotion probabilities (safe to write from a WebRTC worker thread and read
from the page) and the timeline export (CSV/JSON) of a session or a file analysis."""

from __future__ import annotations

import csv
import io
import json
import threading
from collections import deque

import numpy as np

from .labels import EMOTIONS, NUM_EMOTIONS
from .sanitize import csv_cell


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


TIMELINE_COLUMNS: tuple[str, ...] = (
    "kind",
    "source",
    "start_s",
    "end_s",
    "face_id",
    "x",
    "y",
    "w",
    "h",
    "text",
    "language",
    "translation",
    "transcript_unreliable",
    "label",
    *(f"face_{e}" for e in EMOTIONS),
    "semantic_label",
    *(f"semantic_{e}" for e in EMOTIONS),
    "acoustic_label",
    "acoustic_uncertain",
    *(f"acoustic_{e}" for e in EMOTIONS),
)
"""Columns of a timeline export, one row per face, utterance or fused estimate:

- ``kind``: ``face`` | ``utterance`` | ``fused``; ``source``: the file name or ``live``;
- ``start_s``, ``end_s``: seconds (a face row has start = end = its frame time);
- ``face_id``, ``x``, ``y``, ``w``, ``h``: face rows (pixels); ``face_id`` also on fused rows: the
  face followed over the utterance (:func:`emotion.fusion.face_over_span`);
- ``text``: utterance rows only (the transcript, in the language spoken); ``language``: its ISO
  639-1 code; ``translation``: Whisper's English translation when it is not English (multilingual
  models; the words' emotion is read from it); ``transcript_unreliable``: True where the English-only
  model did not recognise the speech as English (the text is not what was said; no words' emotion);
- ``label``: the face's, or the fused estimate's, emotion;
- ``face_<emotion>``: a face's probabilities (fused rows: the fused probabilities);
- ``semantic_label``, ``semantic_<emotion>``, ``acoustic_label``, ``acoustic_<emotion>``: utterance rows;
  ``acoustic_uncertain``: True where the voice model's top probability is below its threshold
  (the pages show "uncertain"; ``acoustic_label`` is still the most probable label).
"""


def _probs(prefix: str, p) -> dict:
    if p is None:
        return {}
    return {f"{prefix}_{e}": round(float(v), 4) for e, v in zip(EMOTIONS, np.asarray(p).reshape(-1), strict=True)}


def face_row(face, t: float, source: str) -> dict:
    """Timeline row of a face (:class:`~emotion.face.analyzer.FaceEmotion` or tracked face) at ``t`` s;
    a face whose expression cannot be read has the reason as its label and no probabilities."""
    x, y, w, h = face.box
    readable = getattr(face, "readable", True)
    return {
        "kind": "face",
        "source": source,
        "start_s": round(t, 3),
        "end_s": round(t, 3),
        "face_id": getattr(face, "face_id", None),
        "x": x,
        "y": y,
        "w": w,
        "h": h,
        "label": face.label if readable else face.reason,
        **(_probs("face", face.probabilities) if readable else {}),
    }


def utterance_row(u, source: str) -> dict:
    """Timeline row of an :class:`~emotion.speech.analyzer.Utterance`."""
    return {
        "kind": "utterance",
        "source": source,
        "start_s": round(u.start_s, 3),
        "end_s": round(u.end_s, 3),
        "text": u.text,
        "language": u.language,
        "translation": u.translation,
        "transcript_unreliable": bool(u.transcript_unreliable),
        "semantic_label": u.semantic_label,
        **_probs("semantic", u.semantic),
        "acoustic_label": u.acoustic_label,
        "acoustic_uncertain": None if u.acoustic is None else bool(u.acoustic_uncertain),
        **_probs("acoustic", u.acoustic),
    }


def fused_row(fused, start_s: float, end_s: float, source: str) -> dict:
    """Timeline row of a :class:`~emotion.fusion.FusedEstimate` over [start_s, end_s]."""
    return {
        "kind": "fused",
        "source": source,
        "start_s": round(start_s, 3),
        "end_s": round(end_s, 3),
        "face_id": getattr(fused, "face_id", None),
        "label": fused.label,
        **_probs("face", fused.probabilities),
    }


class Timeline:
    """Rows of a session or a file analysis, exportable as CSV and JSON. Thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self._rows: list[dict] = []

    def add(self, row: dict) -> None:
        unknown = set(row) - set(TIMELINE_COLUMNS)
        if unknown:
            raise ValueError(f"unknown timeline columns: {sorted(unknown)}")
        with self._lock:
            self._rows.append(row)

    def rows(self) -> list[dict]:
        """Every row, ordered by start time (stable)."""
        with self._lock:
            rows = list(self._rows)
        return sorted(rows, key=lambda r: r["start_s"])

    def to_csv(self) -> str:
        """CSV text with a header of :data:`TIMELINE_COLUMNS` (empty cells where a column does not
        apply). Text cells (transcripts, file names) are made safe for spreadsheets
        (:func:`~emotion.sanitize.csv_cell`: no formula, control characters escaped); the JSON
        export keeps the exact text."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(TIMELINE_COLUMNS), restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: csv_cell(v) for k, v in row.items()} for row in self.rows())
        return buf.getvalue()

    def to_json(self) -> str:
        """JSON text: ``{"columns": [...], "labels": [...], "rows": [...]}``."""
        return json.dumps({"columns": list(TIMELINE_COLUMNS), "labels": list(EMOTIONS), "rows": self.rows()}, indent=2)
