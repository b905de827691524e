"""One analysis core: the same file gives the same timeline rows through :func:`emotion.analyze`,
the CLI, batch analysis (local engine, Parquet) and the pages (their JSON timeline download)."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

import emotion
from devkit.data import ROOT
from emotion.analysis import Analyzers, analyze
from emotion.batch import FILE_COLUMNS, run_batch
from emotion.cli import main
from emotion.errors import InputError
from emotion.labels import EMOTIONS

TOLERANCE = 2e-3
"""Probabilities may differ in the last digits between doors that run the models with other
thread counts (batch: 1 thread per model; the CLI and the pages: the defaults)."""


def _same(a: list[dict], b: list[dict]) -> None:
    """Rows equal column by column: text exactly, numbers within :data:`TOLERANCE`; a missing
    column, None and NaN are the same (Parquet has every column on every row)."""

    def clean(row: dict) -> dict:
        return {k: v for k, v in row.items() if v is not None and not (isinstance(v, float) and math.isnan(v))}

    assert len(a) == len(b), (len(a), len(b))
    for ra, rb in zip(a, b, strict=True):
        ra, rb = clean(ra), clean(rb)
        assert ra.keys() == rb.keys(), (sorted(ra.keys() ^ rb.keys()), ra, rb)
        for k, v in ra.items():
            if isinstance(v, float) or isinstance(rb[k], float):
                assert abs(float(v) - float(rb[k])) <= TOLERANCE, (k, v, rb[k])
            else:
                assert v == rb[k], (k, v, rb[k])


def _cli_rows(kind: str, path: Path, capsys) -> list[dict]:
    assert main([kind, str(path), "--json"]) == 0
    return json.loads(capsys.readouterr().out)["rows"]


def _page_rows(page: str, key: str, path: Path, mime: str, served: dict) -> list[dict]:
    """The rows of the JSON timeline that page ``page`` offers for download after ``path`` is uploaded."""
    at = AppTest.from_file(str(ROOT / "pages" / page), default_timeout=120)
    at.run()
    at.file_uploader(key=key).set_value((path.name, path.read_bytes(), mime))
    at.run()
    assert not at.exception and not at.error
    return json.loads(served[f"{path.stem}_timeline.json"])["rows"]


def _batch_rows(path: Path, out: Path) -> list[dict]:
    import pyarrow.parquet as pq

    report = run_batch([str(path)], str(out), progress=False)
    assert report.failed == 0
    rows = pq.read_table(report.timeline).to_pylist()
    return [{k: v for k, v in r.items() if k not in FILE_COLUMNS} for r in rows]


@pytest.fixture(scope="module")
def analyzers() -> Analyzers:
    return Analyzers()


@pytest.fixture
def astronaut_png(tmp_path, astronaut_bgr) -> Path:
    path = tmp_path / "astronaut.png"
    cv2.imwrite(str(path), astronaut_bgr)
    return path


def test_a_photo_gives_the_same_rows_through_the_core_the_cli_and_batch(astronaut_png, analyzers, tmp_path, capsys):
    result = emotion.analyze(astronaut_png, analyzers=analyzers)
    rows = result.rows()
    assert result.kind == "image" and result.image_size == (512, 512)
    assert [(r["kind"], r["face_id"], r["label"]) for r in rows] == [("face", 1, "happy")]
    _same(rows, analyze(astronaut_png.read_bytes(), name="astronaut.png", analyzers=analyzers).rows())  # bytes = path
    _same(rows, _cli_rows("image", astronaut_png, capsys))
    _same(rows, _batch_rows(astronaut_png, tmp_path / "out"))


def test_a_text_file_gives_the_same_rows_through_the_core_and_the_cli(tmp_path, analyzers, capsys):
    path = tmp_path / "lines.txt"
    path.write_text("I am so happy to see you!\n\nThis is disgusting, take it away.\n", encoding="utf-8")
    rows = analyze(path, analyzers=analyzers).rows()
    assert [(r["start_s"], r["text"]) for r in rows] == [
        (1, "I am so happy to see you!"),
        (3, "This is disgusting, take it away."),
    ]
    assert rows[0]["semantic_label"] == "happy"
    # a text file is typed text: read with the card's typed-text neutral offset
    typed = analyzers.text.predict("This is disgusting, take it away.", typed=True)
    assert [rows[1][f"semantic_{e}"] for e in EMOTIONS] == pytest.approx(typed.tolist(), abs=1e-4)
    _same(rows, _cli_rows("text", path, capsys))


def test_a_video_gives_the_same_rows_through_the_core_the_cli_batch_and_its_page(
    tmp_path, astronaut_bgr, kids_clip, analyzers, capsys, served
):
    from devkit.media import face_scene, write_video

    silence = np.zeros(16_000, np.float32)
    audio = np.concatenate([silence, kids_clip, silence])
    video = write_video(tmp_path / "talk.mp4", face_scene(astronaut_bgr), len(audio) / 16_000, audio=audio)
    result = analyze(video, analyzers=analyzers)
    rows = result.rows()
    assert result.kind == "video" and result.face_count() == 1
    assert {r["kind"] for r in rows} == {"face", "utterance", "fused"}
    _same(rows, _cli_rows("video", video, capsys))
    _same(rows, _batch_rows(video, tmp_path / "out"))
    _same(rows, _page_rows("5_Video_file.py", "video", video, "video/mp4", served))


def test_an_audio_file_gives_the_same_rows_through_the_core_and_its_page(tmp_path, kids_clip, analyzers, served):
    from devkit.media import write_audio

    path = write_audio(tmp_path / "speech.wav", np.concatenate([np.zeros(8_000, np.float32), kids_clip]))
    rows = analyze(path, analyzers=analyzers).rows()
    assert [r["kind"] for r in rows] == ["utterance"] and "door" in rows[0]["text"].lower()
    _same(rows, _page_rows("4_Audio_file.py", "audio", path, "audio/wav", served))


def test_an_audio_only_video_file_is_read_as_audio_unless_told_video(tmp_path, kids_clip, analyzers):
    from devkit.media import write_audio

    path = write_audio(tmp_path / "voice.webm", kids_clip)
    result = analyze(path, analyzers=analyzers)
    assert result.kind == "audio" and len(result.utterances) == 1
    with pytest.raises(InputError, match="video"):
        analyze(path, kind="video", analyzers=analyzers)


@pytest.mark.parametrize(
    "source, kwargs, message",
    [
        ("/no/such/file.png", {}, "no such file"),
        (b"\x89PNG\r\n", {}, "not a photo, audio, video or text file"),  # bytes with no name: no kind
        (b"abc", {"kind": "spreadsheet"}, "unknown kind"),
        (12, {}, "cannot analyse a int"),
        (b"", {"kind": "image"}, "empty"),
        (b"\xff\xfe\x00bad", {"name": "notes.txt"}, "not UTF-8"),
    ],
)
def test_bad_sources_are_input_errors(source, kwargs, message, analyzers):
    with pytest.raises(InputError, match=message):
        analyze(source, analyzers=analyzers, **kwargs)


def test_sample_fps_out_of_range_is_refused(astronaut_png, analyzers):
    for fps in (0, -1, float("nan"), 61):
        with pytest.raises(ValueError, match="sample_fps"):
            analyze(astronaut_png, analyzers=analyzers, sample_fps=fps)


def test_annotate_gives_a_png_and_a_preview_of_a_photo(astronaut_png, analyzers):
    result = analyze(astronaut_png, analyzers=analyzers, annotate=True, preview_max_side=200)
    png = Image.open(io.BytesIO(result.annotated))
    assert png.format == "PNG" and png.size == (512, 512)
    assert result.preview.shape == (200, 200, 3) and result.preview.dtype == np.uint8
    assert analyze(astronaut_png, analyzers=analyzers).annotated is None
