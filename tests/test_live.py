"""The live session (camera + microphone on one clock, fusion, timeline) fed with a real face
photo as video frames and real speech as WebRTC-like audio frames, on a controlled clock."""

import csv
import io
import json

import numpy as np
import pytest

from devkit.media import face_scene, webrtc_frames
from emotion.labels import EMOTIONS
from emotion.live import LiveSession
from emotion.speech.analyzer import SpeechEmotionAnalyzer
from emotion.timeline import TIMELINE_COLUMNS

HAPPY = EMOTIONS.index("happy")
SILENCE = np.zeros(16_000, np.float32)


class Clock:
    """A settable monotonic clock, seconds."""

    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def speech_analyzer():
    return SpeechEmotionAnalyzer.from_settings()


def _run(session, clock, scene, audio=None, audio_delay_s=0.0, video=True):
    """Play ``audio`` (mono 16 kHz) in real time on ``clock`` starting ``audio_delay_s`` after
    the first video frame, with a video frame of ``scene`` every 0.1 s; then end the audio."""
    frames = webrtc_frames(audio) if audio is not None else []
    seconds = audio_delay_s + len(frames) * 0.02 + 0.2
    sent = 0
    for step in range(round(seconds / 0.1)):
        if video:
            session.video.process(scene.copy())
        t = step * 0.1
        if t >= audio_delay_s and sent < len(frames):
            batch = frames[sent : sent + 5]  # 5 x 20 ms: what arrives in 0.1 s
            session.speech.feed(batch)
            sent += len(batch)
        clock.t += 0.1
    if frames:
        session.speech.on_ended()
        session.speech.join(timeout=120)


@pytest.fixture(scope="module")
def played(analyzer, speech_analyzer, astronaut_bgr, kids_clip):
    clock = Clock()
    session = LiveSession(analyzer, speech_analyzer, clock=clock)
    audio = np.concatenate([SILENCE, kids_clip, SILENCE])
    _run(session, clock, face_scene(astronaut_bgr), audio, audio_delay_s=2.0)
    return session, clock


def test_utterances_land_on_the_session_clock_with_the_face_seen_while_spoken(played):
    session, clock = played
    snap = session.snapshot()
    assert snap.speech.error is None and snap.face.error is None
    raw = snap.speech.utterances
    assert [u.text.lower().strip(". ") for u in raw] == ["kids are talking by the door"]
    (u,) = snap.utterances
    # the audio started 2 s after the first video frame: the utterance is shifted by 2 s
    assert u.start_s == pytest.approx(raw[0].start_s + 2.0, abs=0.11)
    assert u.end_s == pytest.approx(raw[0].end_s + 2.0, abs=0.11)
    assert snap.face.trend_t[0] == pytest.approx(0.0, abs=1e-6)
    assert snap.now_s == pytest.approx(clock.t - 1000.0, abs=1e-6)
    # all three modalities took part in the utterance's fusion; the happy astronaut shows
    (fused,) = snap.fused_utterances
    assert set(fused.weights) == {"face", "semantic", "acoustic"}
    assert abs(float(fused.probabilities.sum()) - 1) < 1e-5
    assert fused.probabilities.shape == (7,)


def test_current_fused_estimate_follows_fresh_modalities(played):
    session, clock = played
    snap = session.snapshot()
    # the utterance ended moments ago and the face was seen in the last 2 s: all three count
    assert snap.fused_now is not None and set(snap.fused_now.weights) == {"face", "semantic", "acoustic"}
    # switching the face off (weight 0) removes it, and changes the result
    no_face = session.snapshot({"face": 0.0}).fused_now
    assert set(no_face.weights) == {"semantic", "acoustic"}
    assert not np.allclose(no_face.probabilities, snap.fused_now.probabilities)


def test_stale_modalities_drop_out_of_the_current_estimate(analyzer, speech_analyzer, astronaut_bgr):
    clock = Clock()
    session = LiveSession(analyzer, speech_analyzer, clock=clock)
    session.video.process(face_scene(astronaut_bgr))
    assert set(session.snapshot().fused_now.weights) == {"face"}
    # 30 s later with no frame and no speech, nothing is current
    clock.t += 30.0
    assert session.snapshot().fused_now is None
    # a new frame: the face alone, which is the happy astronaut
    session.video.process(face_scene(astronaut_bgr))
    now = session.snapshot().fused_now
    assert set(now.weights) == {"face"} and now.label == "happy"


def test_the_current_estimate_shows_each_modality_with_its_weight_and_window(played):
    session, _ = played
    snap = session.snapshot()
    fused = snap.fused_now
    says, shares = fused.says(), fused.shares()
    assert set(says) == set(shares) == {"face", "semantic", "acoustic"}
    assert sum(shares.values()) == pytest.approx(1.0)
    # the face part is the face on screen (the overlay's label), not something else
    assert says["face"][0] == snap.face.followed.label == "happy"
    # the headline is one of the labels the modalities said, with its fused probability
    assert fused.label in {label for label, _ in says.values()}
    # each part names the time it covers: the last 2 s for the face, the latest utterance's span
    start, end = snap.now_face_window
    assert end == pytest.approx(snap.now_s) and end - start == pytest.approx(session.face_span_s)
    assert snap.now_utterance == snap.utterances[-1]
    # the same, as the dashboard's rows
    parts = {part.name: part for part in snap.now_parts()}
    assert list(parts) == ["face", "semantic", "acoustic"]
    assert sum(part.share for part in parts.values()) == pytest.approx(1.0)
    assert parts["face"].label == "happy" and parts["face"].window == snap.now_face_window
    u = snap.utterances[-1]
    assert parts["semantic"].window == parts["acoustic"].window == (u.start_s, u.end_s)
    off = {part.name: part for part in session.snapshot({"face": 0.0}).now_parts({"face": 0.0})}
    assert off["face"].share == 0 and off["face"].note == "switched off"
    assert off["semantic"].share + off["acoustic"].share == pytest.approx(1.0)
    # a stream started without the camera says so, not "no readable face"
    cam = {part.name: part for part in snap.now_parts(devices_off=["camera"])}
    assert cam["face"].note == "camera off" and cam["semantic"].note == ""
    mic = {part.name: part for part in snap.now_parts(devices_off=["microphone"])}
    assert mic["semantic"].note == mic["acoustic"].note == "microphone off" and mic["face"].note == ""


def test_after_stop_the_numbers_describe_the_last_moments_of_the_stream(analyzer, speech_analyzer, astronaut_bgr, kids_clip):
    clock = Clock()
    session = LiveSession(analyzer, speech_analyzer, clock=clock)
    _run(session, clock, face_scene(astronaut_bgr), np.concatenate([SILENCE, kids_clip, SILENCE]))
    last = session.snapshot(ended=True)
    clock.t += 20.0  # the page is read 20 s after STOP
    later = session.snapshot(ended=True)
    # the same estimate as at the end: the face of the last 2 s and the words and voice of the
    # last utterance (not "words happy" with the face dropped because the wall clock moved on)
    assert later.media_end_s == pytest.approx(last.media_end_s)
    assert set(later.fused_now.weights) == {"face", "semantic", "acoustic"}
    np.testing.assert_allclose(later.fused_now.probabilities, last.fused_now.probabilities, atol=1e-6)
    assert later.now_face_window[1] == pytest.approx(later.media_end_s)
    assert later.fused_now.says()["face"][0] == later.face.followed.label
    # while it played, the present counts: 20 s of nothing means nothing is current
    assert session.snapshot().fused_now is None


def test_latency_from_end_of_utterance_is_measured(played):
    session, _ = played
    snap = session.snapshot()
    (latency,) = snap.latency_s
    # the clock only moves with the audio: the end arrived before the result, which came at or after
    assert latency is not None and latency >= 0.0
    (shown,) = session.mark_shown(snap)
    assert shown >= latency
    session.clock.t += 5.0
    assert session.mark_shown(session.snapshot()) == (shown,)  # an utterance is timed once
    session.clock.t -= 5.0


def test_live_timeline_has_faces_utterances_and_fusion(played):
    session, _ = played
    tl = session.timeline()
    rows = list(csv.DictReader(io.StringIO(tl.to_csv())))
    assert tuple(rows[0].keys()) == TIMELINE_COLUMNS
    kinds = [r["kind"] for r in rows]
    assert kinds.count("utterance") == 1 and kinds.count("fused") == 1
    faces = [r for r in rows if r["kind"] == "face"]
    duration = session.snapshot().face.trend_t[-1]
    # one row per 0.5 s for the one face seen all along (not one per frame)
    assert abs(len(faces) - (duration / 0.5 + 1)) <= 2
    assert {r["face_id"] for r in faces} == {"1"} and {r["source"] for r in rows} == {"live"}
    assert all(r["label"] == "happy" for r in faces)
    times = [float(r["start_s"]) for r in rows]
    assert times == sorted(times)
    data = json.loads(tl.to_json())
    assert data["labels"] == list(EMOTIONS) and len(data["rows"]) == len(rows)


def test_face_rows_are_bounded(analyzer, speech_analyzer, astronaut_bgr):
    clock = Clock()
    session = LiveSession(analyzer, speech_analyzer, max_face_rows=5, timeline_interval_s=0.0, clock=clock)
    _run(session, clock, face_scene(astronaut_bgr), audio=None, audio_delay_s=1.5)
    rows = session.timeline().rows()
    assert len(rows) == 5 and all(r["kind"] == "face" for r in rows)
    # 17 frames at 0.1 s (0.0 .. 1.6 s): the newest five are kept
    assert [r["start_s"] for r in rows] == pytest.approx([1.2, 1.3, 1.4, 1.5, 1.6], abs=1e-6)
    session.reset()
    assert session.timeline().rows() == [] and session.snapshot().face.frames == 0


def test_microphone_alone(analyzer, speech_analyzer, kids_clip):
    clock = Clock()
    session = LiveSession(analyzer, speech_analyzer, clock=clock)
    _run(session, clock, None, np.concatenate([SILENCE, kids_clip, SILENCE]), video=False)
    snap = session.snapshot()
    assert snap.face.frames == 0 and len(snap.utterances) == 1
    assert snap.utterances[0].start_s == pytest.approx(snap.speech.utterances[0].start_s, abs=1e-6)
    assert set(snap.fused_utterances[0].weights) == {"semantic", "acoustic"}
    assert set(snap.fused_now.weights) == {"semantic", "acoustic"}


def test_dashboard_page_without_devices_and_modality_switches():
    """AppTest cannot run the WebRTC component (it needs the server runtime; the browser test
    covers the stream): with both devices off the page stops before it, with a clear message."""
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    page = Path(__file__).resolve().parents[1] / "pages" / "0_Live_dashboard.py"
    at = AppTest.from_file(str(page), default_timeout=60)
    at.session_state["dash_camera"] = False
    at.session_state["dash_microphone"] = False
    at.run()
    assert not at.exception and not at.error
    assert [w.value for w in at.warning] == ["Switch on the camera, the microphone or both (sidebar) to start."]
    assert [t.label for t in at.sidebar.toggle] == ["Camera", "Microphone", "Face", "Words (semantic)", "Voice (acoustic)"]
    assert [s.label for s in at.sidebar.slider] == ["Face weight", "Words (semantic) weight", "Voice (acoustic) weight"]
    # a modality switched off: its weight slider goes away
    at.sidebar.toggle(key="dash_use_acoustic").set_value(False).run()
    assert not at.exception
    assert [s.label for s in at.sidebar.slider] == ["Face weight", "Words (semantic) weight"]


def test_a_new_camera_only_stream_forgets_the_previous_speech(analyzer, speech_analyzer, astronaut_bgr, kids_clip):
    clock = Clock()
    session = LiveSession(analyzer, speech_analyzer, clock=clock)
    _run(session, clock, face_scene(astronaut_bgr), np.concatenate([SILENCE, kids_clip, SILENCE]))
    assert len(session.snapshot().utterances) == 1
    clock.t += 100.0  # STOP, then START with the microphone off
    session.reset()
    _run(session, clock, face_scene(astronaut_bgr), audio=None, audio_delay_s=1.0)
    snap = session.snapshot()
    assert snap.utterances == () and snap.fused_utterances == () and snap.latency_s == ()
    # the session clock starts at the new stream's first frame, not at the old audio
    assert snap.face.trend_t[0] == pytest.approx(0.0, abs=1e-6) and snap.now_s == pytest.approx(1.2, abs=1e-6)
    assert {r["kind"] for r in session.timeline().rows()} == {"face"}
    assert set(snap.fused_now.weights) == {"face"}


def test_a_refresh_covers_a_bounded_window_and_the_export_everything(
    analyzer, speech_analyzer, astronaut_bgr, kids_clip, dogs_clip
):
    clock = Clock()
    session = LiveSession(analyzer, speech_analyzer, snapshot_utterances=1, clock=clock)
    _run(session, clock, face_scene(astronaut_bgr), np.concatenate([SILENCE, kids_clip, SILENCE, dogs_clip, SILENCE]))
    snap = session.snapshot()
    assert snap.speech.count == 2 and len(snap.utterances) == len(snap.fused_utterances) == len(snap.latency_s) == 1
    assert "dogs are sitting by the door" in snap.utterances[0].text.lower()  # the newest
    assert snap.fused_utterances[0].face_id == 1  # fused with the face seen while it was said
    kinds = [r["kind"] for r in session.timeline().rows()]
    assert kinds.count("utterance") == 2 and kinds.count("fused") == 2
