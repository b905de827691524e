"""Security: nothing is unpickled at run time, uploads are size-limited, and text from the user
(file names, typed text, transcripts) is never rendered as HTML or Markdown."""

from __future__ import annotations

import ast
import io
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from emotion.config import Settings

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = [ROOT / "localapp.py", *(ROOT / "emotion").rglob("*.py"), *(ROOT / "pages").glob("*.py"), *(ROOT / "ui").glob("*.py")]
UNSAFE_MODULES = {"pickle", "cPickle", "joblib", "dill", "cloudpickle", "marshal", "shelve", "torch"}
EVIL = "<img src=x onerror=alert(1)>![p](data:x)[l](javascript:alert(1))**b**"  # no "/": a file name


def test_no_unpickling_at_run_time():
    found = []
    for path in RUNTIME:
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [(path.name, a.name) for a in node.names if a.name.split(".")[0] in UNSAFE_MODULES]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in UNSAFE_MODULES:
                found.append((path.name, node.module))
            elif isinstance(node, ast.keyword) and node.arg == "allow_pickle":
                if not (isinstance(node.value, ast.Constant) and node.value.value is False):
                    found.append((path.name, "allow_pickle"))
    assert len(RUNTIME) > 20 and found == []


def test_upload_size_is_limited():
    config = (ROOT / ".streamlit" / "config.toml").read_text()
    server = config.split("[server]", 1)[1].split("\n[", 1)[0]
    limit = re.search(r"^maxUploadSize\s*=\s*(\d+)", server, re.M)
    assert limit and 0 < int(limit.group(1)) <= 500


def _markdown_bodies(at) -> list[str]:
    out = []
    for kind in ("markdown", "caption", "error", "warning", "success", "info"):
        out += [str(e.value) for e in at.get(kind)]
    return out


def _assert_inert(bodies: list[str], evil: str) -> None:
    hits = [b for b in bodies if evil in b]
    assert hits, "the name is shown somewhere"
    for body in hits:
        assert f"`{evil}" in body, body  # only inside a code span: shown as typed


def test_file_names_with_html_and_markdown_are_shown_as_text(astronaut_bgr):
    buf = io.BytesIO()
    Image.fromarray(cv2.cvtColor(astronaut_bgr, cv2.COLOR_BGR2RGB)).save(buf, "PNG")
    at = AppTest.from_file(str(ROOT / "pages" / "1_Photo.py"), default_timeout=60)
    at.run()
    at.file_uploader(key="photo").set_value((EVIL + ".png", buf.getvalue(), "image/png"))
    at.run()
    assert not at.exception and "1 face found" in " ".join(str(s.value) for s in at.success)
    _assert_inert(_markdown_bodies(at), EVIL)
    at = AppTest.from_file(str(ROOT / "pages" / "4_Audio_file.py"), default_timeout=60)
    at.run()
    at.file_uploader(key="audio").set_value((EVIL + ".wav", b"not audio" * 100, "audio/wav"))
    at.run()
    assert not at.exception
    _assert_inert(_markdown_bodies(at), EVIL)


def test_transcripts_and_typed_text_with_html_are_shown_as_text(monkeypatch):
    from emotion.live import SpeechSnapshot, SpeechStreamProcessor
    from emotion.speech.analyzer import Utterance

    script = "<script>alert('x')</script> **loud** [x](javascript:alert(1))"
    probs = np.full(7, 1 / 7, np.float32)
    snap = SpeechSnapshot((Utterance(0.0, 1.5, script, probs, probs),), 1.5, 0.0, 0, True, None)
    monkeypatch.setattr(SpeechStreamProcessor, "snapshot", lambda self, last=None: snap)
    # no WebRTC in AppTest: a streamer that is not playing
    import types

    import streamlit_webrtc

    stopped = types.SimpleNamespace(state=types.SimpleNamespace(playing=False))
    monkeypatch.setattr(streamlit_webrtc, "webrtc_streamer", lambda *a, **k: stopped)
    at = AppTest.from_file(str(ROOT / "pages" / "3_Voice.py"), default_timeout=120)
    at.run()
    assert not at.exception
    assert script in [t.value for t in at.text]  # st.text: plain text
    assert all("<script>" not in b for b in _markdown_bodies(at))
    at.text_area[0].set_value(script)
    at.button[0].click()
    at.run()
    assert not at.exception and at.get("plotly_chart")
    assert all("<script>" not in b for b in _markdown_bodies(at))


@pytest.mark.parametrize(
    "model_file",
    [
        "blazeface_full_range.onnx",
        f"{Settings().face_model}.onnx",
        "acoustic_emotion.onnx",
        "whisper_tiny_encoder.onnx",
        "text_emotion.onnx",
        "text_emotion.tokenizer.json",
    ],
)
@pytest.mark.parametrize("fault", ["missing", "corrupt"])
def test_missing_or_corrupt_model_is_one_clear_error_at_start_up(tmp_path, monkeypatch, model_file, fault):
    import shutil

    models = tmp_path / "models_onnx"
    shutil.copytree(ROOT / "models_onnx", models)
    target = models / model_file
    if fault == "missing":
        target.unlink()
    else:
        target.write_bytes(target.read_bytes()[: len(target.read_bytes()) // 3])  # truncated
    monkeypatch.setenv("EMOTION_MODELS_DIR", str(models))
    monkeypatch.setenv("EMOTION_FACE_MODEL", Settings().face_model)
    for script in ("localapp.py", "pages/1_Photo.py"):
        at = AppTest.from_file(str(ROOT / script), default_timeout=120)
        at.run()
        assert not at.exception
        assert len(at.error) == 1, [e.value for e in at.error]
        assert model_file in at.error[0].value and "missing or corrupt" in at.error[0].value


@pytest.fixture
def secret(tmp_path, monkeypatch):
    """A real media file (the astronaut photo as a 2 s video with a tone) that uploads will try to
    point at, in the current folder, with its access time set back so that any read shows."""
    import os

    from devkit.media import face_scene, write_video

    folder = tmp_path / "server"
    folder.mkdir()
    monkeypatch.chdir(folder)
    tone = (0.3 * np.sin(np.arange(32_000) * 2 * np.pi * 220 / 16_000)).astype(np.float32)
    from skimage import data

    astronaut = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    path = write_video(folder / "secret.mp4", face_scene(astronaut, 320, 240), 2.0, audio=tone)
    probe = folder / "probe"
    probe.write_bytes(b"x" * 10)
    st = probe.stat()
    os.utime(probe, (st.st_mtime - 2 * 86400, st.st_mtime))
    before = probe.stat().st_atime
    probe.read_bytes()
    atime_works = probe.stat().st_atime > before  # relatime or strictatime: a read moves it
    from tests.fuzz_corpus import references

    payloads = references(path)  # the archives read it: made before the clock is set
    st = path.stat()
    os.utime(path, (st.st_mtime - 2 * 86400, st.st_mtime))

    def untouched() -> bool:
        return not atime_works or path.stat().st_atime == st.st_mtime - 2 * 86400

    return path, payloads, untouched


def test_uploads_that_point_elsewhere_are_refused_and_nothing_else_is_read(secret, analyzer):
    from emotion.errors import InputError
    from emotion.speech.analyzer import SpeechEmotionAnalyzer
    from emotion.video import VideoEmotionAnalyzer

    path, payloads, untouched = secret
    speech = SpeechEmotionAnalyzer()
    video = VideoEmotionAnalyzer(analyzer, speech)
    for what, payload in payloads.items():
        with pytest.raises(InputError, match="not an audio or video file this app reads"):
            list(speech.analyze_file(payload))
        with pytest.raises(InputError, match="not an audio or video file this app reads"):
            video.analyze(payload)
        assert untouched(), f"{what}: the referenced file was read"
    # the file itself is fine: the refusals are about what the uploads are, not about it
    assert untouched() and len(VideoEmotionAnalyzer(analyzer).analyze(path.read_bytes()).faces) == 4


def test_the_cli_never_hands_a_url_or_protocol_to_ffmpeg(secret, tmp_path):
    import os
    import subprocess
    import sys

    path, payloads, untouched = secret
    lists = []
    for what, payload in payloads.items():
        lists.append(path.parent / f"{what}.mp4")
        lists[-1].write_bytes(payload)
    names = [f"concat:{path}|{path}", f"file:{path.name}", "http://127.0.0.1:9/talk.mp4", "pipe:0", *map(str, lists)]
    run = subprocess.run(
        [sys.executable, "-m", "emotion", "video", *names, "--json"],
        capture_output=True,
        text=True,
        cwd=path.parent,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 1 and "Traceback" not in run.stderr
    for name in names[:4]:  # taken as file names (Path collapses "//"), none of them exists
        assert f"error: {Path(name)}: no such file" in run.stderr, run.stderr
    for name in names[4:]:
        assert f"error: {name}: not an audio or video file" in run.stderr, run.stderr
    assert '"rows": []' in run.stdout and untouched()


def test_the_pages_refuse_a_concat_list_named_like_media(secret):
    path, payloads, untouched = secret
    payload = payloads["ffconcat_relative"]
    for script, key, name in (("4_Audio_file.py", "audio", "talk.wav"), ("5_Video_file.py", "video", "talk.mp4")):
        at = AppTest.from_file(str(ROOT / "pages" / script), default_timeout=120)
        at.run()
        at.file_uploader(key=key).set_value((name, payload, "application/octet-stream"))
        at.run()
        assert not at.exception
        (error,) = at.error
        assert f"Could not read `{name}`" in error.value and "playlists, concat lists" in error.value
    assert untouched()
