"""The result schema, declared once: the statuses a result can carry (enums) and the columns of
the timeline, of batch's file columns and of batch's summary (name, dtype, unit, meaning).

Every export comes from these declarations: the timeline's CSV and JSON
(:class:`emotion.timeline.Timeline`), :meth:`Schema.to_pandas`, :meth:`Schema.to_arrow` and
batch's Parquet schemas (:mod:`emotion.batch.results`), and the column table of the
documentation (:meth:`Schema.markdown`, checked by ``tests/test_schema.py``).

Modality names, everywhere in code, columns and settings: ``face`` (the facial expression),
``semantic`` (the emotion of the words, read from the transcript) and ``acoustic`` (the emotion
of the voice, read from the sound). The pages and the CLI call the last two "words (semantic)"
and "voice (acoustic)" (:mod:`emotion.display`).

Light: imports neither NumPy nor PyAV nor OpenCV; pyarrow and pandas only inside the methods that
build their tables.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from .labels import EMOTIONS

MODALITIES: tuple[str, ...] = ("face", "semantic", "acoustic")
"""The three modalities, by their one name: the face, the words (semantic), the voice (acoustic)."""


class FaceStatus(StrEnum):
    """Whether a face's expression was read (:class:`~emotion.face.quality.ReadabilityRule`)."""

    READ = "read"
    TURNED_AWAY = "turned_away"
    TOO_SMALL = "too_small"
    TOO_BLURRED = "too_blurred"


class AcousticStatus(StrEnum):
    """How sure the voice model is of an utterance: ``uncertain`` when its calibrated top
    probability is below the card's ``uncertain_below`` (:mod:`emotion.speech.acoustic`)."""

    CONFIDENT = "confident"
    UNCERTAIN = "uncertain"


class TranscriptStatus(StrEnum):
    """Whether a transcript can be read as what was said: ``unreliable`` when the English-only
    Whisper model did not recognise the speech as English (:mod:`emotion.speech.transcribe`)."""

    RELIABLE = "reliable"
    UNRELIABLE = "unreliable"


class SpeechStatus(StrEnum):
    """What came of a file's speech (audio, and a video's soundtrack)."""

    SPEECH = "speech"
    """At least one utterance."""
    NO_SPEECH = "no_speech"
    """The audio was heard through voice activity detection and held no utterance."""
    NO_AUDIO = "no_audio"
    """A video without a soundtrack."""
    FAILED = "failed"
    """The soundtrack could not be decoded or analysed (the notes say why)."""
    NOT_ANALYSED = "not_analysed"
    """No speech analyzer was given."""


DTYPES = ("string", "int64", "float64", "bool", "list<string>")
"""The column dtypes, by their Arrow names."""


@dataclass(frozen=True)
class Column:
    """One column of a table.

    Attributes:
        name: the column's name.
        dtype: one of :data:`DTYPES`.
        unit: ``s`` (seconds), ``px`` (pixels), ``probability`` (0..1), ``bytes``, ``ns``, or ""
            when it has none.
        meaning: one line.
        rows: the row kinds that fill it (``face``, ``utterance``, ``fused``, ``file``); empty on
            the others.
        values: the enum whose values the column holds, if any.
    """

    name: str
    dtype: str
    unit: str
    meaning: str
    rows: tuple[str, ...] = ("face", "utterance", "fused")
    values: type[StrEnum] | None = None

    def __post_init__(self):
        if self.dtype not in DTYPES:
            raise ValueError(f"column {self.name}: unknown dtype {self.dtype!r}")

    def cast(self, value):
        """``value`` as this column holds it (None stays None; an enum member becomes its value).

        Raises:
            ValueError: a value outside the column's enum.
        """
        if value is None:
            return None
        if self.values is not None:
            return self.values(value).value
        if self.dtype == "string":
            return str(value)
        if self.dtype == "int64":
            return int(value)
        if self.dtype == "float64":
            return float(value)
        if self.dtype == "bool":
            return bool(value)
        return [str(v) for v in value]


def _probabilities(prefix: str, what: str, rows: tuple[str, ...]) -> tuple[Column, ...]:
    return tuple(Column(f"{prefix}_{e}", "float64", "probability", f"{what}: probability of {e}", rows) for e in EMOTIONS)


_FACE, _UTT, _FUSED, _FILE = ("face",), ("utterance",), ("fused",), ("file",)


class Schema:
    """An ordered set of :class:`Column`, and every export of rows (dicts keyed by column name;
    a missing key is an empty cell).

    Raises:
        ValueError: (constructor) two columns with one name.
    """

    def __init__(self, name: str, columns: Iterable[Column]):
        self.name = name
        self.columns: tuple[Column, ...] = tuple(columns)
        self.names: tuple[str, ...] = tuple(c.name for c in self.columns)
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"{name}: duplicate column names")
        self._by_name = {c.name: c for c in self.columns}

    def __getitem__(self, name: str) -> Column:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __add__(self, other: Schema) -> Schema:
        return Schema(f"{self.name}+{other.name}", (*self.columns, *other.columns))

    def check(self, row: Mapping) -> dict:
        """``row`` with each value cast to its column (:meth:`Column.cast`); only the keys it has.

        Raises:
            ValueError: a key that is not a column, or a value outside a column's enum.
        """
        unknown = set(row) - set(self._by_name)
        if unknown:
            raise ValueError(f"unknown {self.name} columns: {sorted(unknown)}")
        return {k: self._by_name[k].cast(v) for k, v in row.items()}

    def full(self, row: Mapping) -> dict:
        """``row`` with every column, in order (None where it has none)."""
        return {n: row.get(n) for n in self.names}

    def to_csv(self, rows: Iterable[Mapping]) -> str:
        """CSV text: a header of :attr:`names`, empty cells where a column does not apply, text
        cells made safe for spreadsheets (:func:`~emotion.sanitize.csv_cell`)."""
        from .sanitize import csv_cell

        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(self.names), restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: csv_cell(v) for k, v in row.items() if v is not None} for row in rows)
        return buf.getvalue()

    def to_json(self, rows: Iterable[Mapping]) -> str:
        """JSON text: ``{"columns": [...], "labels": [...], "rows": [...]}``; each row holds the
        columns it fills, with the exact text."""
        return json.dumps({"columns": list(self.names), "labels": list(EMOTIONS), "rows": [dict(r) for r in rows]}, indent=2)

    def arrow_schema(self):
        """The ``pyarrow.Schema``: one field per column, in order, of the column's dtype."""
        import pyarrow as pa

        types = {"string": pa.string(), "int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_()}
        return pa.schema([(c.name, types.get(c.dtype) or pa.list_(pa.string())) for c in self.columns])

    def to_arrow(self, rows: Iterable[Mapping]):
        """A ``pyarrow.Table`` of :meth:`arrow_schema` (None where a row has no value).

        Raises:
            ImportError: pyarrow is not installed (``pip install pyarrow``; the ``batch`` extra has it).
        """
        import pyarrow as pa

        rows = [self.full(r) for r in rows]
        return pa.Table.from_pylist(rows, schema=self.arrow_schema())

    def to_pandas(self, rows: Iterable[Mapping]):
        """A ``pandas.DataFrame`` with one column per :attr:`names`, in order, of pandas' nullable
        dtype for the column's (``string``, ``Int64``, ``Float64``, ``boolean``; lists as objects)."""
        import pandas as pd

        dtypes = {"string": "string", "int64": "Int64", "float64": "Float64", "bool": "boolean"}
        frame = pd.DataFrame([self.full(r) for r in rows], columns=list(self.names))
        return frame.astype({c.name: dtypes[c.dtype] for c in self.columns if c.dtype in dtypes})

    def markdown(self) -> str:
        """The columns as a Markdown table (name, dtype, unit, rows that fill it, meaning), the
        table the documentation shows (kept equal to it by a test)."""
        lines = ["| column | dtype | unit | rows | meaning |", "|---|---|---|---|---|"]
        for c in self.columns:
            meaning = c.meaning + (f" ({', '.join(f'`{v.value}`' for v in c.values)})" if c.values else "")
            lines.append(f"| `{c.name}` | {c.dtype} | {c.unit} | {', '.join(c.rows)} | {meaning} |")
        return "\n".join(lines) + "\n"


TIMELINE = Schema(
    "timeline",
    (
        Column("kind", "string", "", "the row's kind: face, utterance or fused"),
        Column("source", "string", "", "the file's name, or live"),
        Column("start_s", "float64", "s", "media time the row starts (a face: its frame's time)"),
        Column("end_s", "float64", "s", "media time the row ends (a face: its frame's time)"),
        Column("face_id", "int64", "", "the tracked face (fused rows: the face followed over the utterance)", _FACE + _FUSED),
        Column("x", "int64", "px", "face box: left edge", _FACE),
        Column("y", "int64", "px", "face box: top edge", _FACE),
        Column("w", "int64", "px", "face box: width", _FACE),
        Column("h", "int64", "px", "face box: height", _FACE),
        Column("face_status", "string", "", "whether the face's expression was read", _FACE, FaceStatus),
        Column("text", "string", "", "the transcript, in the language spoken", _UTT),
        Column("language", "string", "", "ISO 639-1 code of the speech", _UTT),
        Column("translation", "string", "", "Whisper's English translation when the speech is not English", _UTT),
        Column("transcript_status", "string", "", "whether the transcript is what was said", _UTT, TranscriptStatus),
        Column("label", "string", "", "the face's emotion (empty when not read), or the fused emotion", _FACE + _FUSED),
        *_probabilities("face", "the face's (fused rows: the fused) probabilities", _FACE + _FUSED),
        Column("semantic_label", "string", "", "the emotion of the words", _UTT),
        *_probabilities("semantic", "the words", _UTT),
        Column("acoustic_label", "string", "", "the most probable emotion of the voice (also when uncertain)", _UTT),
        Column("acoustic_status", "string", "", "how sure the voice model is", _UTT, AcousticStatus),
        *_probabilities("acoustic", "the voice", _UTT),
    ),
)
"""The timeline: one row per face (per sampled frame), utterance or fused estimate."""

FILE = Schema(
    "file",
    (
        Column("path", "string", "", "the file as listed: an absolute local path, or the URI as given", _FILE),
        Column("media_kind", "string", "", "image, video or audio (empty when the extension says none)", _FILE),
        Column("duration_s", "float64", "s", "the media's duration as its container states it (empty for photos)", _FILE),
        Column("status", "string", "", "ok, or error: the file could not be analysed", _FILE),
        Column("error", "string", "", "why the file could not be analysed (empty when ok)", _FILE),
    ),
)
"""Batch's columns about a file, on every one of its ``DIR/timeline/`` rows."""

SUMMARY = Schema(
    "summary",
    (
        *FILE.columns[:2],
        Column("size_bytes", "int64", "bytes", "the file's size when listed", _FILE),
        Column("mtime_ns", "int64", "ns", "the file's modification time when listed (since the epoch)", _FILE),
        *FILE.columns[2:],
        Column("notes", "list<string>", "", "what did not stop the analysis (no face found, no audio track...)", _FILE),
        Column("faces", "int64", "", "distinct faces: a photo's faces found, a video's tracked face IDs", _FILE),
        Column("utterances", "int64", "", "utterances transcribed", _FILE),
        Column("speech_status", "string", "", "what came of the file's speech (empty for photos)", _FILE, SpeechStatus),
        Column("dominant_emotion", "string", "", "the file's dominant emotion (emotion.batch.results.dominant_emotion)", _FILE),
        Column("processing_s", "float64", "s", "wall seconds the worker spent on the file (models loaded)", _FILE),
        Column("fingerprint", "string", "", "the version, --fps, settings and model files that made the rows", _FILE),
    ),
)
"""Batch's ``DIR/summary/``: one row per file."""

BATCH_TIMELINE = TIMELINE + FILE
"""Batch's ``DIR/timeline/``: :data:`TIMELINE`, then :data:`FILE`."""
