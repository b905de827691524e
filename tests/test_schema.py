"""The one result schema (emotion.schema): every export (CSV, JSON, pandas, Arrow, batch's
Parquet) follows its declaration; statuses are the same enum values in each; the results are
immutable and comparable; the documentation's column tables are the schema's."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from emotion import display
from emotion.analysis import Analysis, analyze
from emotion.face.analyzer import FaceEmotion, FaceEmotionAnalyzer
from emotion.face.quality import ReadabilityRule
from emotion.fusion import fuse
from emotion.schema import (
    BATCH_TIMELINE,
    MODALITIES,
    SUMMARY,
    TIMELINE,
    AcousticStatus,
    Column,
    FaceStatus,
    Schema,
    SpeechStatus,
    TranscriptStatus,
)
from emotion.speech.analyzer import Utterance
from emotion.timeline import Timeline, face_row, fused_row, utterance_row

ROOT = Path(__file__).resolve().parents[1]


def _peaked(i: int, p: float = 0.7) -> np.ndarray:
    v = np.full(7, (1 - p) / 6, np.float32)
    v[i] = p
    return v


@pytest.fixture(scope="module")
def turned_photo(astronaut_png, tmp_path_factory) -> Analysis:
    """The astronaut through an analyzer that calls every face turned away (a real face, unread)."""
    from emotion.analysis import Analyzers

    analyzers = Analyzers(faces=FaceEmotionAnalyzer(rule=ReadabilityRule(max_turn=-1.0)))
    return analyze(astronaut_png, analyzers=analyzers)


@pytest.fixture(scope="module")
def astronaut_png(tmp_path_factory) -> Path:
    import cv2
    from skimage import data

    path = tmp_path_factory.mktemp("schema") / "astronaut.png"
    cv2.imwrite(str(path), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    return path


def _mixed_timeline() -> Timeline:
    """A face, an uncertain voice with an unreliable transcript, and a fused row."""
    tl = Timeline()
    face = FaceEmotion((10, 20, 30, 40), _peaked(3), 0.9)
    tl.add(face_row(face, 0.5, "clip.mp4"))
    u = Utterance(
        0.2,
        1.4,
        "=cmd|' /C calc'!A0",  # a formula: neutralised in CSV only
        None,
        _peaked(4, 0.3),
        acoustic_status=AcousticStatus.UNCERTAIN,
        language="en",
        transcript_status=TranscriptStatus.UNRELIABLE,
    )
    tl.add(utterance_row(u, "clip.mp4"))
    tl.add(fused_row(fuse({"face": _peaked(3), "acoustic": u.acoustic}), 0.2, 1.4, "clip.mp4"))
    return tl


def test_every_export_has_the_declared_columns_in_order():
    tl = _mixed_timeline()
    header = next(csv.reader(io.StringIO(tl.to_csv())))
    assert tuple(header) == TIMELINE.names
    assert tuple(json.loads(tl.to_json())["columns"]) == TIMELINE.names
    assert tuple(tl.to_pandas().columns) == TIMELINE.names
    assert tl.to_arrow().schema == TIMELINE.arrow_schema()


def test_dtypes_follow_the_declaration():
    frame = _mixed_timeline().to_pandas()
    expected = {"string": "string", "int64": "Int64", "float64": "Float64", "bool": "boolean"}
    for column in TIMELINE.columns:
        assert str(frame[column.name].dtype) == expected[column.dtype], column.name
    arrow = {f.name: f.type for f in BATCH_TIMELINE.arrow_schema()}
    assert arrow["face_id"] == arrow["x"] == pa.int64() and arrow["start_s"] == arrow["acoustic_sad"] == pa.float64()
    assert arrow["face_status"] == arrow["acoustic_status"] == pa.string()
    assert {f.name: f.type for f in SUMMARY.arrow_schema()}["notes"] == pa.list_(pa.string())


def test_statuses_are_the_same_values_in_every_output(turned_photo):
    rows = turned_photo.rows()
    assert rows and all(r["face_status"] == "turned_away" and r.get("label") is None for r in rows)
    tl = turned_photo.timeline()
    csv_rows = list(csv.DictReader(io.StringIO(tl.to_csv())))
    json_rows = json.loads(tl.to_json())["rows"]
    frame = tl.to_pandas()
    table = tl.to_arrow().to_pylist()
    for r_csv, r_json, r_pd, r_arrow in zip(csv_rows, json_rows, frame.to_dict("records"), table, strict=True):
        assert r_csv["face_status"] == r_json["face_status"] == r_pd["face_status"] == r_arrow["face_status"] == "turned_away"
        assert r_csv["label"] == "" and r_json.get("label") is None and r_arrow["label"] is None and pd.isna(r_pd["label"])
    # the words people see come from one place
    assert display.face_label(None, rows[0]["face_status"]) == "face turned away"

    mixed = _mixed_timeline()
    (utt,) = [r for r in json.loads(mixed.to_json())["rows"] if r["kind"] == "utterance"]
    assert utt["acoustic_status"] == "uncertain" and utt["transcript_status"] == "unreliable"
    (csv_utt,) = [r for r in csv.DictReader(io.StringIO(mixed.to_csv())) if r["kind"] == "utterance"]
    assert csv_utt["acoustic_status"] == "uncertain" and csv_utt["transcript_status"] == "unreliable"
    assert csv_utt["text"].startswith("'=")  # CSV is spreadsheet-safe; JSON keeps the exact text
    assert utt["text"].startswith("=")
    assert display.acoustic_label(utt["acoustic_label"], utt["acoustic_status"]) == display.UNCERTAIN
    assert display.language(utt["language"], utt["transcript_status"]) == display.NOT_ENGLISH


def test_a_value_outside_a_status_or_a_column_is_refused():
    tl = Timeline()
    with pytest.raises(ValueError):
        tl.add({"kind": "face", "source": "x", "start_s": 0.0, "end_s": 0.0, "face_status": "squinting"})
    with pytest.raises(ValueError, match="unknown timeline columns"):
        tl.add({"kind": "face", "source": "x", "start_s": 0.0, "end_s": 0.0, "face_reason": "blurred"})
    with pytest.raises(ValueError):
        Column("x", "int32", "", "not a declared dtype")
    with pytest.raises(ValueError, match="duplicate"):
        Schema("twice", [Column("a", "string", "", "a"), Column("a", "string", "", "a")])


def test_every_status_has_words():
    for status in FaceStatus:
        assert display.face_label("happy", status) == ("happy" if status is FaceStatus.READ else display.FACE_STATUS_TEXT[status])
    assert display.acoustic_label(None, None) == display.NONE
    assert display.acoustic_label("sad", AcousticStatus.CONFIDENT) == "sad"
    for status in SpeechStatus:
        assert isinstance(display.speech(status, 3.0), str)
    assert display.speech(SpeechStatus.NO_SPEECH, 3.2) == "no speech found in 3 s of audio"
    assert display.speech(SpeechStatus.SPEECH) == ""
    assert set(display.MODALITY_TITLES) == set(display.MODALITY_SHORT) == set(MODALITIES)


def test_results_are_immutable_and_comparable(turned_photo):
    p = _peaked(2)
    a, b = FaceEmotion((1, 2, 3, 4), p, 0.8), FaceEmotion((1, 2, 3, 4), p.copy(), 0.8)
    assert a == b and hash(a) == hash(b) and a != FaceEmotion((1, 2, 3, 4), _peaked(3), 0.8)
    with pytest.raises(ValueError):
        a.probabilities[0] = 1.0  # read-only
    p[0] = 1.0  # the caller's array is the caller's: the result kept its own copy
    assert a.probabilities[0] != 1.0
    u = Utterance(0.0, 1.0, "hi", _peaked(3), None)
    assert u == Utterance(0.0, 1.0, "hi", _peaked(3), None) and len({u, Utterance(0.0, 1.0, "hi", _peaked(3), None)}) == 1
    fused = fuse({"face": _peaked(3), "semantic": _peaked(3, 0.9)})
    assert fused == fuse({"face": _peaked(3), "semantic": _peaked(3, 0.9)})
    with pytest.raises(ValueError):
        fused.probabilities[:] = 0
    # a whole file's analysis compares by value too
    again = Analysis(**{f: getattr(turned_photo, f) for f in turned_photo.__dataclass_fields__})
    assert again == turned_photo


def test_one_name_per_modality():
    fused = fuse({"face": _peaked(3), "semantic": _peaked(3), "acoustic": _peaked(3)})
    assert set(fused.weights) == set(MODALITIES)
    prefixes = {c.name.rsplit("_", 1)[0] for c in TIMELINE.columns if c.unit == "probability"}
    assert prefixes == set(MODALITIES)
    assert not hasattr(fused, "confidence")  # the top probability is `score`; certainty() is 1 - H/log 7


def _doc_table(path: Path, name: str) -> str:
    text = path.read_text(encoding="utf-8")
    found = re.search(rf"<!-- schema:{name} -->\n(.*?)<!-- /schema:{name} -->", text, re.S)
    assert found, f"{path} has no <!-- schema:{name} --> table"
    return found.group(1)


@pytest.mark.parametrize("schema", [TIMELINE, SUMMARY], ids=lambda s: s.name)
def test_the_documented_column_tables_are_the_schema(schema):
    """docs/columns.md shows each table between markers; ``python docs/make_columns.py`` rewrites them."""
    assert _doc_table(ROOT / "docs" / "columns.md", schema.name) == schema.markdown()
