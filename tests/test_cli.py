"""The command line on real photos, real speech and text files, and on bad input."""

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from devkit.media import write_audio
from emotion.cli import main
from emotion.labels import EMOTIONS
from emotion.timeline import TIMELINE_COLUMNS

ROOT = Path(__file__).resolve().parents[1]


def test_image_json_via_python_m(tmp_path, astronaut_bgr):
    photo = tmp_path / "astronaut.jpg"
    cv2.imwrite(str(photo), astronaut_bgr)
    run = subprocess.run(
        [sys.executable, "-m", "emotion", "image", str(photo), "--json"], capture_output=True, text=True, cwd=ROOT
    )
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["columns"] == list(TIMELINE_COLUMNS) and data["labels"] == list(EMOTIONS)
    (row,) = data["rows"]
    assert row["kind"] == "face" and row["label"] == "happy" and row["source"] == "astronaut.jpg" and row["face_id"] == 1
    assert abs(sum(row[f"face_{e}"] for e in EMOTIONS) - 1) < 1e-3


def test_image_table_prints_each_face_s_box_label_and_probability(tmp_path, astronaut_bgr, capsys):
    """A photo's line: the face, its box in pixels, its label with its probability; no time column
    (a photo has none)."""
    photo = tmp_path / "astronaut.jpg"
    cv2.imwrite(str(photo), astronaut_bgr)
    assert main(["image", str(photo), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["rows"]
    assert main(["image", str(photo)]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    want = [
        "astronaut.jpg",
        "face #1",
        f"box x={row['x']} y={row['y']} w={row['w']} h={row['h']} px",
        f"happy {row['face_happy']:.0%}",
    ]
    assert line.split("\t") == want
    assert " s\t" not in line and "0.00" not in line


def test_folder_of_images_to_csv_with_a_bad_file(tmp_path, astronaut_bgr, faceless_photos, capsys):
    cv2.imwrite(str(tmp_path / "a.png"), astronaut_bgr)
    cv2.imwrite(str(tmp_path / "coffee.png"), faceless_photos["coffee"])
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg at all")
    out = tmp_path / "faces.csv"
    code = main(["image", str(tmp_path), "--csv", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1  # one file could not be read...
    assert "broken.jpg" in err and "not an image" in err and "coffee.png: no face found" in err
    rows = list(csv.DictReader(io.StringIO(out.read_text())))  # ...the others are in the CSV
    assert [(r["source"], r["label"]) for r in rows] == [("a.png", "happy")]
    assert list(rows[0]) == list(TIMELINE_COLUMNS)


def test_audio_transcribed_with_both_emotions(tmp_path, kids_clip, capsys):
    silence = np.zeros(16_000, np.float32)
    clip = write_audio(tmp_path / "kids.ogg", np.concatenate([silence, kids_clip, silence]), 16_000)
    assert main(["audio", str(clip), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["rows"]
    assert row["kind"] == "utterance" and "kids are talking by the door" in row["text"].lower()
    assert row["semantic_label"] in EMOTIONS and row["acoustic_label"] in EMOTIONS
    assert 1.5 < row["start_s"] < row["end_s"] < 4.7


def test_text_file_one_row_per_line(tmp_path, capsys):
    f = tmp_path / "lines.txt"
    f.write_text("I am so happy today, this is wonderful!\n\nI hate you, get out of my house!\n", encoding="utf-8")
    assert main(["text", str(f)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 2 and "words: happy" in out[0] and "words: angry" in out[1]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["image", "/nonexistent/photo.jpg"], "no such file"),
        (["audio", "/nonexistent/speech.wav"], "no such file"),
        (["image", "/tmp/definitely-empty-dir-for-cli-test"], "no image files found"),
    ],
)
def test_errors_are_messages_with_exit_code_1(argv, message, capsys):
    Path("/tmp/definitely-empty-dir-for-cli-test").mkdir(exist_ok=True)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_usage_error_exit_code_2():
    run = subprocess.run([sys.executable, "-m", "emotion", "painting", "x"], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 2 and "invalid choice" in run.stderr


def test_video_faces_utterances_and_fused_rows(tmp_path, astronaut_bgr, kids_clip, capsys):
    from devkit.media import face_scene, write_video

    silence = np.zeros(16_000, np.float32)
    audio = np.concatenate([silence, kids_clip, silence])
    clip = write_video(tmp_path / "talk.mp4", face_scene(astronaut_bgr), len(audio) / 16_000, audio=audio)
    assert main(["video", str(clip), "--json", "--fps", "2"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    faces = [r for r in rows if r["kind"] == "face"]
    (utt,) = [r for r in rows if r["kind"] == "utterance"]
    (fused,) = [r for r in rows if r["kind"] == "fused"]
    assert len(faces) >= 9 and {r["face_id"] for r in faces} == {1} and {r["label"] for r in faces} == {"happy"}
    times = [r["start_s"] for r in faces]
    assert times == sorted(times) and all(0.4 < b - a < 0.6 for a, b in zip(times, times[1:], strict=False))
    assert "kids are talking by the door" in utt["text"].lower()
    assert fused["label"] in EMOTIONS and (fused["start_s"], fused["end_s"]) == (utt["start_s"], utt["end_s"])


def test_video_without_audio_and_a_corrupt_video(tmp_path, astronaut_bgr, capsys):
    from devkit.media import face_scene, write_video

    write_video(tmp_path / "silent.mp4", face_scene(astronaut_bgr), 2.0)
    (tmp_path / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x13" * 500)
    assert main(["video", str(tmp_path), "--csv"]) == 1  # the corrupt one fails, the silent one is analysed
    captured = capsys.readouterr()
    assert "silent.mp4: soundtrack: the file has no audio track" in captured.err
    assert "corrupt.mp4" in captured.err and "Traceback" not in captured.err
    rows = list(csv.DictReader(io.StringIO(captured.out)))
    assert rows and {r["kind"] for r in rows} == {"face"} and {r["source"] for r in rows} == {"silent.mp4"}
