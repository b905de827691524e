"""Media time comes from the media: clips built here from the real astronaut photo and real
RAVDESS speech, with the audio starting after or before the video, a phone-style rotation, a
variable frame rate, and a decode error in the middle; through the library, the CLI and the
Video file page."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from devkit.media import face_scene, write_audio, write_av_clip
from emotion.face.track import iou
from emotion.video import VideoEmotionAnalyzer

ROOT = Path(__file__).resolve().parents[1]
SILENCE = np.zeros(16_000, np.float32)


@pytest.fixture(scope="module")
def speech_analyzer():
    from emotion.speech.analyzer import SpeechEmotionAnalyzer

    return SpeechEmotionAnalyzer.from_settings()


@pytest.fixture(scope="module")
def scene(astronaut_bgr):
    return face_scene(astronaut_bgr, 320, 240)


@pytest.fixture(scope="module")
def spoken(kids_clip):
    """One real sentence after 1 s of silence, and 1 s of silence after it (mono 16 kHz)."""
    return np.concatenate([SILENCE, kids_clip, SILENCE])


@pytest.fixture(scope="module")
def reference_start(spoken, speech_analyzer, tmp_path_factory):
    """Where VAD puts the sentence in the audio alone (a WAV starting at 0 s)."""
    wav = write_audio(tmp_path_factory.mktemp("ref") / "speech.wav", spoken)
    (u,) = list(speech_analyzer.analyze_file(wav))
    assert 1.0 < u.start_s < 2.5  # 1 s of silence, then the clip (which opens with a short pause)
    return u.start_s, u.end_s


def _frames(scene, seconds, fps=10, start=0.0):
    times = [start + i / fps for i in range(int(seconds * fps))]
    return [scene] * len(times), times


def test_audio_that_starts_3_s_late_is_placed_at_its_true_time(
    tmp_path, scene, spoken, reference_start, analyzer, speech_analyzer
):
    frames, times = _frames(scene, 3.0 + len(spoken) / 16_000 + 0.5)
    clip = write_av_clip(tmp_path / "late.mp4", frames, times, audio=spoken, audio_start_s=3.0)
    result = VideoEmotionAnalyzer(analyzer, speech_analyzer).analyze(clip)
    (u,) = result.utterances
    assert u.start_s == pytest.approx(3.0 + reference_start[0], abs=0.1)
    assert u.end_s == pytest.approx(3.0 + reference_start[1], abs=0.1)
    assert result.faces[0][0] == 0.0  # the video starts at 0
    # the fusion takes the faces seen while the sentence was said
    ((fused_u, fused),) = result.fused
    assert fused_u is u and fused.face_id == 1 and "face" in fused.weights
    # the same file as an audio file: the same media time
    (alone,) = list(speech_analyzer.analyze_file(clip))
    assert alone.start_s == pytest.approx(u.start_s, abs=1e-6)


def test_audio_that_starts_before_the_video(tmp_path, scene, spoken, reference_start, analyzer, speech_analyzer):
    frames, times = _frames(scene, len(spoken) / 16_000, start=2.0)  # the picture appears at 2 s
    clip = write_av_clip(tmp_path / "early.mkv", frames, times, audio=spoken, audio_start_s=0.0)
    result = VideoEmotionAnalyzer(analyzer, speech_analyzer).analyze(clip)
    (u,) = result.utterances
    assert u.start_s == pytest.approx(reference_start[0], abs=0.1)
    assert result.faces[0][0] == pytest.approx(2.0, abs=1e-3)
    assert all(t >= 2.0 - 1e-3 for t, _ in result.faces)


def test_late_audio_through_the_cli(tmp_path, scene, spoken, reference_start):
    frames, times = _frames(scene, 3.0 + len(spoken) / 16_000 + 0.5)
    clip = write_av_clip(tmp_path / "late.mp4", frames, times, audio=spoken, audio_start_s=3.0)
    for kind in ("video", "audio"):
        run = subprocess.run(
            [sys.executable, "-m", "emotion", kind, str(clip), "--json"], capture_output=True, text=True, cwd=ROOT, timeout=300
        )
        assert run.returncode == 0, run.stderr
        (utt,) = [r for r in json.loads(run.stdout)["rows"] if r["kind"] == "utterance"]
        assert utt["start_s"] == pytest.approx(3.0 + reference_start[0], abs=0.1), kind


def _page(script: str, key: str, name: str, data: bytes):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages" / script), default_timeout=300)
    at.run()
    at.file_uploader(key=key).set_value((name, data, "application/octet-stream"))
    at.run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    return at


@pytest.mark.parametrize(
    "script, key, name", [("5_Video_file.py", "video", "late.mp4"), ("4_Audio_file.py", "audio", "late.m4a")]
)
def test_late_audio_on_the_pages(tmp_path, scene, spoken, reference_start, script, key, name):
    frames, times = _frames(scene, 3.0 + len(spoken) / 16_000 + 0.5)
    data = write_av_clip(tmp_path / "late.mp4", frames, times, audio=spoken, audio_start_s=3.0).read_bytes()
    at = _page(script, key, name, data)
    table = at.table[0].value
    assert float(table["start (s)"][0]) == pytest.approx(3.0 + reference_start[0], abs=0.1)


def _sideways(scene):
    """``scene`` stored as a phone stores a portrait video: turned a quarter counter-clockwise,
    with a display matrix saying to turn it back (rotation -90)."""
    return cv2.rotate(scene, cv2.ROTATE_90_COUNTERCLOCKWISE)


def test_a_rotated_phone_video_is_analysed_upright(tmp_path, scene, analyzer):
    (upright_face,) = analyzer.analyze(scene)
    frames, times = _frames(_sideways(scene), 2.0)
    clip = write_av_clip(tmp_path / "phone.mp4", frames, times, rotation=-90)
    result = VideoEmotionAnalyzer(analyzer).analyze(clip, annotate=True)
    assert len(result.faces) == 4 and all(len(fs) == 1 for _, fs in result.faces)
    for _, (face,) in result.faces:  # found upright, where the face is in the upright picture
        assert face.label == "happy" and iou(face.box, upright_face.box) > 0.7
    with av.open(io.BytesIO(result.annotated_video)) as c:
        frame = next(c.decode(video=0))
        assert (frame.width, frame.height) == (320, 240)  # the annotated copy is upright too
    # the same frames with the rotation ignored: the face is sideways and the box does not match
    sideways = [f.box for f in analyzer.analyze(_sideways(scene))]
    assert all(iou(box, upright_face.box) < 0.3 for box in sideways)


def test_a_rotated_phone_video_through_the_cli_and_the_page(tmp_path, scene, analyzer):
    (upright_face,) = analyzer.analyze(scene)
    clip = write_av_clip(tmp_path / "phone.mp4", *_frames(_sideways(scene), 2.0), rotation=-90)
    run = subprocess.run(
        [sys.executable, "-m", "emotion", "video", str(clip), "--json"], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert run.returncode == 0, run.stderr
    faces = [r for r in json.loads(run.stdout)["rows"] if r["kind"] == "face"]
    assert len(faces) == 4 and all(r["label"] == "happy" for r in faces)
    assert all(iou((r["x"], r["y"], r["w"], r["h"]), upright_face.box) > 0.7 for r in faces)
    at = _page("5_Video_file.py", "video", "phone.mp4", clip.read_bytes())
    assert "(1 face tracked)" in " ".join(str(s.value) for s in at.success)
    (video,) = at.get("video")
    assert video.proto.url


def test_a_variable_frame_rate_keeps_each_frames_time(tmp_path, scene, analyzer):
    times = [0.0, 0.1, 0.15, 0.6, 0.65, 1.5, 1.52, 2.9, 3.0, 4.75]
    clip = write_av_clip(tmp_path / "vfr.mkv", [scene] * len(times), times)
    every = VideoEmotionAnalyzer(analyzer).analyze(clip, sample_fps=100)
    assert [t for t, _ in every.faces] == pytest.approx(times, abs=1e-3)
    sampled = VideoEmotionAnalyzer(analyzer).analyze(clip, sample_fps=2)  # one frame per >= 0.5 s of media time
    assert [t for t, _ in sampled.faces] == pytest.approx([0.0, 0.6, 1.5, 2.9, 4.75], abs=1e-3)


def _corrupt_packets(path: Path, first_s: float, last_s: float) -> bytes:
    """The file at ``path`` with the payload of its video packets between ``first_s`` and ``last_s``
    overwritten with random bytes (their place in the file from the demuxer)."""
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(7)
    with av.open(str(path)) as c:
        for packet in c.demux(video=0):
            if packet.pts is not None and first_s <= float(packet.pts * packet.time_base) <= last_s and packet.pos:
                n = packet.size
                data[packet.pos + 16 : packet.pos + n] = rng.integers(0, 256, max(0, n - 16), dtype=np.uint8).tobytes()
    return bytes(data)


def test_a_decode_error_in_the_middle_leaves_a_note_and_the_rest_is_analysed(tmp_path, astronaut_bgr, analyzer):
    clip = write_av_clip(tmp_path / "talk.mkv", *_moving(astronaut_bgr, 8.0))
    broken = tmp_path / "broken.mkv"
    broken.write_bytes(_corrupt_packets(clip, 3.0, 3.5))
    result = VideoEmotionAnalyzer(analyzer).analyze(broken, sample_fps=2)
    (note,) = [n for n in result.notes if "could not be decoded" in n]
    first = float(re.search(r"the first at ([0-9.]+) s", note).group(1))
    assert 2.5 <= first <= 3.5, note  # where the damage is (a damaged reference frame spoils its neighbours)
    assert result.faces[-1][0] > 7.0  # decoding went on after the damage
    run = subprocess.run(
        [sys.executable, "-m", "emotion", "video", str(broken), "--csv"], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert "broken.mkv" in run.stderr and "could not be decoded" in run.stderr and "Traceback" not in run.stderr


def _moving(astronaut_bgr, seconds, fps=10):
    """Frames of the astronaut photo sliding sideways (so every frame costs bytes), and their times."""
    n = int(seconds * fps)
    return [face_scene(np.roll(astronaut_bgr, 4 * i, axis=1), 320, 240) for i in range(n)], [i / fps for i in range(n)]


def test_a_truncated_video_says_where_it_ends(tmp_path, astronaut_bgr, analyzer):
    data = write_av_clip(tmp_path / "long.mkv", *_moving(astronaut_bgr, 8.0)).read_bytes()
    result = VideoEmotionAnalyzer(analyzer).analyze(data[: len(data) // 2])
    assert result.faces and result.faces[-1][0] < 7.0
    assert any("ends at" in n and "lasts 7.9 s (truncated?)" in n for n in result.notes), result.notes


def test_a_time_just_below_zero_never_reads_minus_zero():
    """A float error can put an utterance's start a hair below the clock's 0 s: the timeline,
    its CSV and the pages show 0, never "-0.0" / "-0.00"."""
    from emotion import display
    from emotion.schema import TIMELINE
    from emotion.speech.analyzer import Utterance
    from emotion.timeline import face_row, utterance_row
    from ui.widgets import utterance_rows

    p = np.full(7, 1 / 7, np.float32)
    u = Utterance(-1e-9, -0.0004, "hello", p, p)
    row = utterance_row(u, "clip.wav")
    assert (row["start_s"], row["end_s"]) == (0.0, 0.0)
    assert str(row["start_s"]) == "0.0" and str(row["end_s"]) == "0.0"
    csv = TIMELINE.to_csv([row])
    assert "-0" not in csv.splitlines()[1]

    class Face:
        box, label, probabilities = (1, 2, 3, 4), "happy", p

    assert str(face_row(Face(), -1e-12, "clip.mp4")["start_s"]) == "0.0"
    assert display.seconds(-1e-9) == "0.0" and display.seconds(-0.004, 2) == "0.00" and display.seconds(12.34) == "12.3"
    shown = utterance_rows([u])[0]
    assert f"{shown['start (s)']:.2f}" == "0.00" and f"{shown['end (s)']:.2f}" == "0.00"
