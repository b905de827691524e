"""Batch analysis into Parquet (emotion.batch): the local engine and Ray Data give the same rows on
real media, failed files are rows, reruns skip what is done, and the schema is the documented one."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from devkit.media import face_scene, write_audio, write_video
from emotion import batch
from emotion.batch import (
    BATCH_TIMELINE_COLUMNS,
    FILE_COLUMNS,
    SUMMARY_COLUMNS,
    FileResult,
    ParquetStore,
    dominant_emotion,
    list_inputs,
    run_batch,
)
from emotion.cli import main
from emotion.errors import InputError
from emotion.labels import EMOTIONS
from emotion.schema import BATCH_TIMELINE, SUMMARY
from emotion.timeline import TIMELINE_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
CORRUPT_MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x13" * 500


def _tables(out: Path):
    import pandas as pd

    timeline = pd.read_parquet(out / "timeline")
    summary = pd.read_parquet(out / "summary")
    keys = ["path", "kind", "start_s", "face_id"]
    timeline = timeline.sort_values(keys, na_position="first", kind="stable").reset_index(drop=True)
    return timeline, summary.sort_values("path").reset_index(drop=True)


def _records(out: Path, table: str) -> list[dict]:
    """Rows of ``out/table`` as dicts (nulls are None), sorted like :func:`_tables`."""
    import pyarrow.dataset as ds

    rows = ds.dataset(out / table, format="parquet").to_table().to_pylist()
    return sorted(rows, key=lambda r: (r["path"], r.get("kind") or "", r.get("start_s") or 0.0, r.get("face_id") or 0))


@pytest.fixture(scope="module")
def photos(tmp_path_factory, astronaut_bgr, faceless_photos) -> Path:
    """A folder of real photos (one smiling face; a coffee cup without a face) and a corrupt jpeg."""
    folder = tmp_path_factory.mktemp("photos")
    cv2.imwrite(str(folder / "astronaut.jpg"), astronaut_bgr)
    cv2.imwrite(str(folder / "coffee.png"), faceless_photos["coffee"])
    (folder / "broken.jpg").write_bytes(b"not a jpeg at all")
    return folder


@pytest.fixture(scope="module")
def media(tmp_path_factory, astronaut_bgr, kids_clip, dogs_clip) -> Path:
    """A real photo, a short video with speech (the astronaut + RAVDESS "Kids are talking by the
    door"), a real speech clip in a subfolder (RAVDESS "Dogs are sitting by the door") and a
    corrupt video."""
    folder = tmp_path_factory.mktemp("media")
    cv2.imwrite(str(folder / "astronaut.jpg"), astronaut_bgr)
    silence = np.zeros(16_000, np.float32)
    audio = np.concatenate([silence, kids_clip, silence])
    write_video(folder / "talk.mp4", face_scene(astronaut_bgr), len(audio) / 16_000, audio=audio)
    (folder / "speech").mkdir()
    write_audio(folder / "speech" / "dogs.wav", np.concatenate([silence, dogs_clip, silence]), 16_000)
    (folder / "corrupt.mp4").write_bytes(CORRUPT_MP4)
    return folder


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray instance with 2 CPUs for the module's Ray tests (batch runs leave it running)."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -r requirements-batch.txt)")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")  # the workers inherit it: no hub look-up, ever
        assert batch.ray_init(num_cpus=2)
    yield ray
    ray.shutdown()


@pytest.mark.data
def test_local_and_ray_engines_give_the_same_rows(media, kids_clip, local_ray, tmp_path, capsys):
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    assert main(["batch", str(media), "--out", str(local), "--no-progress"]) == 1  # the corrupt file failed
    code = main(["batch", str(media), "--out", str(on_ray), "--engine", "ray", "--workers", "2", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err and "4 analysed (1 failed)" in err

    import pandas as pd

    (t_local, s_local), (t_ray, s_ray) = _tables(local), _tables(on_ray)
    pd.testing.assert_frame_equal(t_local, t_ray, check_exact=False, atol=1e-3)
    pd.testing.assert_frame_equal(s_local.drop(columns="processing_s"), s_ray.drop(columns="processing_s"), check_exact=False)

    by_name: dict[str, list[dict]] = {}
    for r in _records(local, "timeline"):
        by_name.setdefault(Path(r["path"]).name, []).append(r)
    assert set(by_name) == {"astronaut.jpg", "talk.mp4", "dogs.wav", "corrupt.mp4"}
    (face,) = by_name["astronaut.jpg"]
    assert face["kind"] == "face" and face["label"] == "happy" and face["media_kind"] == "image" and face["status"] == "ok"
    talk = by_name["talk.mp4"]
    assert {r["kind"] for r in talk} == {"face", "utterance", "fused"} and {r["media_kind"] for r in talk} == {"video"}
    (utt,) = [r for r in talk if r["kind"] == "utterance"]
    assert "kids are talking by the door" in utt["text"].lower() and 0.5 < utt["start_s"] < utt["end_s"] < 5
    assert talk[0]["duration_s"] == pytest.approx(2 + len(kids_clip) / 16_000, abs=0.2)  # silence, speech, silence
    (dogs,) = by_name["dogs.wav"]
    assert dogs["kind"] == "utterance" and "dogs are sitting by the door" in dogs["text"].lower()
    assert dogs["semantic_label"] in EMOTIONS and dogs["acoustic_label"] in EMOTIONS and dogs["media_kind"] == "audio"
    (bad,) = by_name["corrupt.mp4"]
    assert bad["kind"] is None and bad["status"] == "error" and "not an audio or video file" in bad["error"]
    assert bad["source"] == "corrupt.mp4"

    summary = {Path(r["path"]).name: r for r in _records(local, "summary")}
    assert summary["talk.mp4"]["faces"] == 1 and summary["talk.mp4"]["utterances"] == 1
    assert summary["talk.mp4"]["dominant_emotion"] in EMOTIONS and summary["astronaut.jpg"]["dominant_emotion"] == "happy"
    assert summary["dogs.wav"]["faces"] == 0 and summary["dogs.wav"]["utterances"] == 1
    assert summary["corrupt.mp4"]["status"] == "error" and summary["corrupt.mp4"]["dominant_emotion"] is None
    wav = (media / "speech" / "dogs.wav").stat()
    assert (summary["dogs.wav"]["size_bytes"], summary["dogs.wav"]["mtime_ns"]) == (wav.st_size, wav.st_mtime_ns)


def test_a_worker_that_dies_is_an_error_row_not_the_end_of_the_run(photos, local_ray, tmp_path, monkeypatch):
    class DiesOnCoffee(batch.FileAnalyzer):  # pickled by value to the actors
        def analyze(self, f):
            if f.path.endswith("coffee.png"):
                os._exit(1)  # as when the kernel kills a worker out of memory, or a decoder crashes
            return super().analyze(f)

    monkeypatch.setattr(batch.engines, "FileAnalyzer", DiesOnCoffee)
    results: dict[str, FileResult] = {}
    report = run_batch(
        [str(photos)],
        str(tmp_path / "out"),
        engine="ray",
        workers=2,
        progress=False,
        on_result=lambda r: results.update({Path(r.path).name: r}),
    )
    assert (report.analysed, report.failed) == (3, 2)
    assert results["astronaut.jpg"].status == "ok" and results["astronaut.jpg"].faces == 1
    assert "not an image" in results["broken.jpg"].error
    assert results["coffee.png"].status == "error" and "worker analysing this file was lost" in results["coffee.png"].error
    assert {r["path"] for r in _records(tmp_path / "out", "summary")} == {str(photos / n) for n in results}


@pytest.fixture(scope="module")
def photo_run(photos, tmp_path_factory) -> tuple[Path, list[str]]:
    out = tmp_path_factory.mktemp("photo-run") / "out"
    analysed: list[str] = []
    report = run_batch([str(photos)], str(out), progress=False, on_result=lambda r: analysed.append(Path(r.path).name))
    assert (report.files, report.analysed, report.failed, report.skipped) == (3, 3, 1, 0)
    return out, analysed


def test_rerun_skips_finished_files_and_force_redoes_them(photos, photo_run, tmp_path):
    import shutil

    import pandas as pd

    out = tmp_path / "out"
    shutil.copytree(photo_run[0], out)
    before, _ = _tables(out)

    def rerun(**kw) -> list[str]:
        seen: list[str] = []
        run_batch([str(photos)], str(out), progress=False, on_result=lambda r: seen.append(Path(r.path).name), **kw)
        return sorted(seen)

    assert rerun() == ["broken.jpg"]  # done files skipped; the failed one tried again
    again, summary = _tables(out)
    assert len(summary) == 3 and summary["path"].is_unique  # nothing twice
    pd.testing.assert_frame_equal(again, before)

    changed = photos / "coffee.png"
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))  # a newer version
    assert rerun() == ["broken.jpg", "coffee.png"]
    assert rerun(force=True) == ["astronaut.jpg", "broken.jpg", "coffee.png"]
    timeline, summary = _tables(out)
    assert len(summary) == 3 and summary["path"].is_unique and len(timeline) == len(before)
    (coffee,) = [r for r in _records(out, "summary") if r["path"] == str(changed)]
    assert coffee["mtime_ns"] == changed.stat().st_mtime_ns and coffee["notes"] == ["no face found"]


def test_parquet_schema_is_the_documented_one(photo_run):
    import pyarrow as pa
    import pyarrow.dataset as ds

    out, _ = photo_run
    timeline = ds.dataset(out / "timeline", format="parquet").schema
    summary = ds.dataset(out / "summary", format="parquet").schema
    assert timeline.names == list(BATCH_TIMELINE_COLUMNS) == [*TIMELINE_COLUMNS, *FILE_COLUMNS]
    assert FILE_COLUMNS == ("path", "media_kind", "duration_s", "status", "error")
    assert summary.names == list(SUMMARY_COLUMNS)
    types = dict(zip(timeline.names, timeline.types, strict=True))
    assert types["start_s"] == types["face_happy"] == types["acoustic_sad"] == types["duration_s"] == pa.float64()
    assert types["face_id"] == types["x"] == pa.int64() and types["acoustic_status"] == pa.string()
    assert types["kind"] == types["text"] == types["error"] == pa.string()
    assert summary.field("notes").type == pa.list_(pa.string()) and summary.field("faces").type == pa.int64()
    # exactly the declared schemas (emotion.schema), whose tables docs/columns.md shows (tests/test_schema.py)
    assert timeline == BATCH_TIMELINE.arrow_schema() and summary == SUMMARY.arrow_schema()
    assert "columns.md" in (ROOT / "docs" / "batch.md").read_text(encoding="utf-8")


def test_photo_rows(photo_run):
    out, analysed = photo_run
    summary = _records(out, "summary")
    assert sorted(analysed) == ["astronaut.jpg", "broken.jpg", "coffee.png"]
    timeline = _records(out, "timeline")
    rows = {(Path(r["path"]).name, r["kind"], r["label"], r["status"]) for r in timeline}
    assert rows == {
        ("astronaut.jpg", "face", "happy", "ok"),
        ("broken.jpg", None, None, "error"),
        ("coffee.png", None, None, "ok"),
    }
    (broken,) = [r for r in timeline if r["source"] == "broken.jpg"]
    assert "not an image" in broken["error"] and broken["media_kind"] == "image"
    assert [(r["faces"], r["dominant_emotion"], r["status"]) for r in summary] == [
        (1, "happy", "ok"),
        (0, None, "error"),
        (0, None, "ok"),
    ]


def test_an_interrupted_write_is_cleaned_up(tmp_path):
    import pyarrow as pa

    store = ParquetStore(str(tmp_path / "out"))
    row = {"kind": "face", "source": "a.jpg", "start_s": 0.0, "end_s": 0.0, "face_id": 1, "label": "happy"}
    ok = FileResult("/x/a.jpg", "image", 10, 5, None, "ok", None, (), (row,), 0.1)
    store.write([ok], "part-1.parquet")
    # a run killed between its timeline part and its summary part leaves an orphan timeline part
    lost = FileResult("/x/b.jpg", "image", 10, 5, None, "ok", None, (), (row,), 0.1)
    store._write("timeline", "part-2.parquet", pa.Table.from_pylist(lost.timeline_rows(), schema=batch.timeline_schema()))
    done = store.done(lambda r: False)
    assert set(done) == {"/x/a.jpg"}
    assert sorted(p.name for p in (tmp_path / "out" / "timeline").iterdir()) == ["part-1.parquet"]
    assert set(store.done(lambda r: r["path"] == "/x/a.jpg")) == set()  # redone: its rows are gone
    assert not list((tmp_path / "out" / "timeline").iterdir()) and not list((tmp_path / "out" / "summary").iterdir())


def test_manifests_folders_and_uris(tmp_path):
    pytest.importorskip("fsspec", reason="fsspec is not installed")
    import fsspec

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.wav").write_bytes(b"x")
    (tmp_path / "a" / "notes.md").write_bytes(b"not media")
    (tmp_path / "two.MP4").write_bytes(b"yy")
    (tmp_path / "list.txt").write_text("# my files\na/one.wav\n\ntwo.MP4\nmissing.jpg\n", encoding="utf-8")
    (tmp_path / "list.csv").write_text("id,Path\n1,a/one.wav\n2,two.MP4\n", encoding="utf-8")
    found = list_inputs([str(tmp_path / "list.txt")])
    assert [(Path(f.path).name, f.media_kind, f.size_bytes) for f in found] == [
        ("one.wav", "audio", 1),
        ("missing.jpg", "image", -1),
        ("two.MP4", "video", 2),
    ]
    assert [f.path for f in list_inputs([str(tmp_path / "list.csv"), str(tmp_path / "a")])] == [
        str(tmp_path / "a" / "one.wav"),
        str(tmp_path / "two.MP4"),
    ]
    mem = fsspec.filesystem("memory")
    mem.pipe("/archive/calls/c1.wav", b"RIFF....")
    mem.pipe("/archive/calls/readme.txt", b"no")
    (uri,) = [f.path for f in list_inputs(["memory://archive"])]
    assert uri.startswith("memory://") and uri.endswith("/archive/calls/c1.wav")
    with batch._local_copy(uri) as local:
        assert local.name == "c1.wav" and local.read_bytes() == b"RIFF...."
    with pytest.raises(InputError, match="no such file or folder"):
        list_inputs([str(tmp_path / "nope")])
    (tmp_path / "bad.csv").write_text("file\nx.wav\n", encoding="utf-8")
    with pytest.raises(InputError, match="no 'path' column"):
        list_inputs([str(tmp_path / "bad.csv")])


def test_dominant_emotion_rule():
    def probs(prefix, label, p=0.9):
        rest = (1 - p) / 6
        return {f"{prefix}_{e}": (p if e == label else rest) for e in EMOTIONS}

    face = {"kind": "face", "label": "sad", "start_s": 0.0, "end_s": 0.0}
    fused = [
        {"kind": "fused", "label": "angry", "start_s": 0.0, "end_s": 1.0},
        {"kind": "fused", "label": "happy", "start_s": 1.0, "end_s": 4.0},
        {"kind": "fused", "label": "angry", "start_s": 4.0, "end_s": 5.0},
    ]
    assert dominant_emotion([face, *fused]) == "happy"  # 3 s of happy beat 2 s of angry
    utt = {"kind": "utterance", "start_s": 0.0, "end_s": 2.0, **probs("semantic", "fear"), **probs("acoustic", "fear", 0.6)}
    assert dominant_emotion([face, face, utt]) == "fear"  # audio: words and voice fused
    assert dominant_emotion([face, face, {**face, "label": "happy"}]) == "sad"
    turned = {**face, "label": None, "face_status": "turned_away"}  # a face that cannot be read names no emotion
    assert dominant_emotion([turned, turned, face]) == "sad" and dominant_emotion([turned]) is None
    assert dominant_emotion([]) is None


@pytest.mark.parametrize(
    "argv, message",
    [
        (["/nonexistent/archive"], "no such file or folder: /nonexistent/archive"),
        (["{empty}"], "no photo, audio or video files found"),
        (["{empty}", "--workers", "2"], "--workers needs --engine ray"),
        (["{empty}", "--fps", "0"], "--fps must be a number above 0 and at most 60"),
    ],
)
def test_bad_input_is_a_message_not_a_traceback(argv, message, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    argv = [a.replace("{empty}", str(tmp_path / "empty")) for a in argv]
    assert main(["batch", *argv, "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_ray_missing_is_a_message(photos, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    assert main(["batch", str(photos), "--out", str(tmp_path / "out"), "--engine", "ray"]) == 1
    err = capsys.readouterr().err
    assert "needs Ray: pip install" in err and "Traceback" not in err


# --- issue 24: the fingerprint, the lock, every failure a row, URIs, the progress bar -------------


def _rerun(photos: Path, out: Path, **kw) -> list[str]:
    seen: list[str] = []
    run_batch([str(photos)], str(out), progress=False, on_result=lambda r: seen.append(Path(r.path).name), **kw)
    return sorted(seen)


def test_a_rerun_with_another_fps_settings_or_model_file_redoes_every_file(photos, tmp_path):
    import shutil

    from emotion.config import Settings

    out = tmp_path / "out"
    every = ["astronaut.jpg", "broken.jpg", "coffee.png"]
    assert _rerun(photos, out) == every
    assert {r["fingerprint"] for r in _records(out, "summary")} == {batch.results.analysis_fingerprint(Settings.from_env(), 2.0)}
    assert _rerun(photos, out) == ["broken.jpg"]  # same analysis: only the failed file again
    assert _rerun(photos, out, sample_fps=3.0) == every  # another --fps: old rows would mix with new
    assert _rerun(photos, out, sample_fps=3.0) == ["broken.jpg"]
    settings = Settings.from_env()
    assert _rerun(photos, out, sample_fps=3.0, app_settings=settings.replace(face_readability=False)) == every
    models = tmp_path / "models"
    shutil.copytree(settings.models_dir, models)
    card = models / f"{settings.face_model}.json"
    card.write_text(card.read_text() + "\n")  # the same card, another file: the fingerprint reads contents
    changed = settings.replace(models_dir=models, face_readability=False)
    assert _rerun(photos, out, sample_fps=3.0, app_settings=changed) == every
    _, summary = _tables(out)
    assert len(summary) == 3 and summary["path"].is_unique  # each file once, with its newest rows


def test_a_second_run_on_the_same_folder_refuses(photos, tmp_path, capsys):
    out = tmp_path / "out"
    store = ParquetStore(str(out))
    with store.lock():
        with pytest.raises(batch.BatchError, match="another batch run is writing to"):
            run_batch([str(photos)], str(out), progress=False)
        assert main(["batch", str(photos), "--out", str(out), "--no-progress"]) == 1
        assert "another batch run is writing to" in capsys.readouterr().err
        assert not list((out / "summary").glob("*.parquet"))  # nothing written meanwhile
    assert _rerun(photos, out) == ["astronaut.jpg", "broken.jpg", "coffee.png"]  # free again


def test_stale_temporary_parts_are_removed(photos, photo_run, tmp_path):
    import shutil

    out = tmp_path / "out"
    shutil.copytree(photo_run[0], out)
    stale = [out / "timeline" / ".part-old-00000.parquet.1234abcd.tmp", out / "summary" / ".part-old-00000.parquet.1234abcd.tmp"]
    for p in stale:
        p.write_bytes(b"half a part")
    _rerun(photos, out)
    assert not any(p.exists() for p in stale)


def test_a_file_briefly_unreadable_keeps_its_earlier_rows(photos, tmp_path, capsys):
    import shutil

    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("astronaut.jpg", "coffee.png"):
        shutil.copy(photos / name, folder / name)
    manifest = tmp_path / "list.txt"
    manifest.write_text("in/astronaut.jpg\nin/coffee.png\n")
    out = tmp_path / "out"
    run_batch([str(manifest)], str(out), progress=False)
    (folder / "astronaut.jpg").rename(tmp_path / "away.jpg")  # an unmounted share, a file being replaced
    report = run_batch([str(manifest)], str(out), progress=True)
    assert report.analysed == 0 and report.skipped == 2
    assert "cannot be read now" in capsys.readouterr().err
    summary = {Path(r["path"]).name: r for r in _records(out, "summary")}
    assert summary["astronaut.jpg"]["status"] == "ok" and summary["astronaut.jpg"]["faces"] == 1


@pytest.mark.parametrize(
    "rows, why",
    [
        ([{"kind": "face", "source": "a.jpg", "start_s": 0.0, "end_s": 0.0, "x": "not a number"}], "ArrowInvalid|ArrowTypeError"),
        ([{"kind": "fused", "source": "a.mp4", "start_s": 0.0, "label": "happy"}], "KeyError"),  # dominant emotion fails
        ([{"kind": "utterance", "source": "a.wav", "start_s": float("nan"), "end_s": 1.0}], "ValueError"),
    ],
)
def test_a_result_that_cannot_be_stored_is_that_files_error_row(rows, why):
    good = FileResult("/x/b.jpg", "image", 1, 1, None, "ok", None, (), (), 0.1)
    bad = FileResult("/x/a.jpg", "image", 1, 1, None, "ok", None, (), tuple(rows), 0.1)
    table = batch.results._results_table([bad, good])
    back = {r.path: r for r in batch.results._results_from_table(table)}
    assert back["/x/b.jpg"].status == "ok"
    assert back["/x/a.jpg"].status == "error" and back["/x/a.jpg"].rows == ()
    assert re.search(f"its results could not be stored: ({why})", back["/x/a.jpg"].error), back["/x/a.jpg"].error


@pytest.mark.parametrize(
    "uri, listed, expected",
    [
        ("hdfs://namenode:8020/data", "/data/a.wav", "hdfs://namenode:8020/data/a.wav"),
        ("webhdfs://host:9870/in", "/in/sub/b.mp4", "webhdfs://host:9870/in/sub/b.mp4"),
        ("s3://bucket/prefix", "bucket/prefix/c.jpg", "s3://bucket/prefix/c.jpg"),
        ("gs://bucket", "bucket/d.png", "gs://bucket/d.png"),
        ("memory://media", "/media/e.wav", "memory:///media/e.wav"),
    ],
)
def test_uris_of_listed_files_keep_their_host_and_port(uri, listed, expected):
    assert batch.inputs._uri_of(uri, listed) == expected


def test_the_progress_bar_counts_files_and_failures():
    import io

    stream = io.StringIO()
    bar = batch.Progress(2, stream=stream, every_s=0.0)
    bar.update(FileResult("a.wav", "audio", 1, 1, 3.0, "ok", None, (), (), 0.1))
    bar.update(FileResult("b.wav", "audio", 1, 1, 2.0, "error", "bad", (), (), 0.1))
    bar.close()
    out = stream.getvalue()
    assert (bar.done, bar.failed, bar.media_s) == (2, 1, 5.0)
    assert "2/2" in out and "1 failed" in out and "file" in out
