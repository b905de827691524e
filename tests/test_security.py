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
    from emotion.speech.analyzer import Utterance
    from emotion.stream import SpeechSnapshot, SpeechStreamProcessor

    script = "<script>alert('x')</script> **loud** [x](javascript:alert(1))"
    probs = np.full(7, 1 / 7, np.float32)
    snap = SpeechSnapshot((Utterance(0.0, 1.5, script, probs, probs),), 1.5, 0.0, 0, True, None)
    monkeypatch.setattr(SpeechStreamProcessor, "snapshot", lambda self: snap)
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
