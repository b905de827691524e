"""Shared fixtures: real photos, the shared data set, a real `streamlit run` server."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from devkit.server import start_app, stop_app

# The pages' tests (AppTest) run no server, so Streamlit's server.address is unset: every
# interface, which the app treats as a hosted deployment. They stand for a machine of one's own
# unless they say otherwise; tests/test_limits.py checks the address rule itself.
os.environ.setdefault("EMOTION_HOSTED", "0")

from devkit.data import FER_NPZ, RAVDESS, ROOT, SHARED_DATA  # noqa: F401 - also imported from here by the tests


@pytest.fixture(scope="session")
def astronaut_bgr() -> np.ndarray:
    """scikit-image's astronaut photo (Eileen Collins, NASA, public domain): one smiling face."""
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


@pytest.fixture(scope="session")
def faceless_photos() -> dict[str, np.ndarray]:
    """Real photos without a human face, shipped by scikit-image (tests/photos.py)."""
    from devkit.photos import face_free_photos

    return {p.name: p.image for p in face_free_photos()}


@pytest.fixture(scope="session")
def analyzer():
    from emotion import FaceEmotionAnalyzer

    return FaceEmotionAnalyzer()


@pytest.fixture(scope="session")
def fer_npz() -> Path:
    if not FER_NPZ.exists():
        pytest.skip(f"FER2013 data not found at {FER_NPZ} (../shared is absent in a user's clone)")
    return FER_NPZ


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium")
    if not path:
        pytest.skip("Debian chromium is not installed (apt-get install chromium); .ci/run installs it")
    return path


@pytest.fixture(scope="session")
def streamlit_url(tmp_path_factory) -> str:
    """A real `streamlit run localapp.py` on 127.0.0.1, for the session; its log is printed on failure."""
    log_path = tmp_path_factory.mktemp("streamlit") / "server.log"
    try:
        proc, url = start_app(log_path)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield url
    stop_app(proc)
    print("---- streamlit server log (tail) ----\n" + log_path.read_text()[-4000:])


@pytest.fixture(scope="session")
def ravdess_dir() -> Path:
    if not RAVDESS.exists():
        pytest.skip(f"RAVDESS not found at {RAVDESS} (../shared is absent in a user's clone)")
    return RAVDESS


@pytest.fixture(scope="session")
def kids_clip(ravdess_dir) -> np.ndarray:
    """A real RAVDESS clip (actor 1, neutral): "Kids are talking by the door", mono float32 16 kHz."""
    from emotion.speech.audio import load_audio

    return load_audio(ravdess_dir / "Actor_01" / "03-01-01-01-01-01-01.flac")


@pytest.fixture(scope="session")
def dogs_clip(ravdess_dir) -> np.ndarray:
    """A real RAVDESS clip (actor 2, happy): "Dogs are sitting by the door"."""
    from emotion.speech.audio import load_audio

    return load_audio(ravdess_dir / "Actor_02" / "03-01-03-02-02-01-02.flac")


@pytest.fixture(scope="session")
def transcriber():
    from emotion.speech.transcribe import Transcriber

    return Transcriber()


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory):
    """A 16-bit 48 kHz WAV of real speech (two RAVDESS sentences, 2 s pauses), or None without
    ../shared (the speech tests then skip)."""
    if not RAVDESS.exists():
        return None
    from devkit.media import fake_microphone_wav
    from emotion.speech.audio import load_audio

    clips = [
        load_audio(RAVDESS / "Actor_01" / "03-01-01-01-01-01-01.flac"),
        load_audio(RAVDESS / "Actor_02" / "03-01-03-02-02-01-02.flac"),
    ]
    return fake_microphone_wav(tmp_path_factory.mktemp("audio") / "speech.wav", clips, pause_s=2.0)


@pytest.fixture(scope="session")
def live_speech_wav(speech_wav, tmp_path_factory):
    """:func:`speech_wav`'s two sentences 30 times over (about 3 min) for Chromium's fake
    microphone, or None without ../shared: the live tests then have fresh speech for as long as
    they watch, whether or not Chromium loops the file (not checked)."""
    if speech_wav is None:
        return None
    from devkit.media import fake_microphone_wav
    from emotion.speech.audio import load_audio

    clips = [
        load_audio(RAVDESS / "Actor_01" / "03-01-01-01-01-01-01.flac"),
        load_audio(RAVDESS / "Actor_02" / "03-01-03-02-02-01-02.flac"),
    ] * 30
    return fake_microphone_wav(tmp_path_factory.mktemp("audio") / "speech_long.wav", clips, pause_s=2.0)


# .ci/run's two runs: the first (a user's clone) writes the tests it skipped to
# EMOTION_RECORD_SKIPPED; the second (training dependencies, ../shared beside it) runs only those,
# named by EMOTION_RUN_ONLY, instead of every test a second time. Without the variables: no effect.
RECORD_SKIPPED = os.environ.get("EMOTION_RECORD_SKIPPED")
RUN_ONLY = os.environ.get("EMOTION_RUN_ONLY")


def _record_skip(nodeid: str) -> None:
    with open(RECORD_SKIPPED, "a", encoding="utf-8") as out:
        out.write(nodeid + "\n")


def pytest_collectreport(report):
    """A module skipped as a whole (pytest.importorskip, a module-level skip) is recorded by its path."""
    if RECORD_SKIPPED and report.skipped:
        _record_skip(report.nodeid)


def pytest_runtest_logreport(report):
    """A test that skipped (in its set-up or its body; not an expected failure) is recorded by its node id."""
    if RECORD_SKIPPED and report.skipped and not hasattr(report, "wasxfail"):
        _record_skip(report.nodeid)


def pytest_collection_modifyitems(config, items):
    """With EMOTION_RUN_ONLY: only the tests it lists (node ids, or module paths for all of a module's),
    and every case of a parametrised test one of whose cases it lists."""
    if not RUN_ONLY:
        return
    wanted = {line.strip() for line in Path(RUN_ONLY).read_text(encoding="utf-8").splitlines() if line.strip()}
    if not wanted:
        raise pytest.UsageError(f"EMOTION_RUN_ONLY={RUN_ONLY} lists no tests")
    # a parametrised test is matched by its name too: its parameters may differ between the runs
    # (a list drawn from ../shared is empty in a user's clone, and pytest then names one skipped case)
    wanted |= {w.split("[", 1)[0] for w in wanted}
    keep = [i for i in items if i.nodeid.split("[", 1)[0] in wanted or i.nodeid.split("::", 1)[0] in wanted]
    config.hook.pytest_deselected(items=[i for i in items if i not in keep])
    items[:] = keep


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Expose each phase's report on the test item (``item.rep_call``), for fixtures that
    add diagnostics when a test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def pytest_terminal_summary(terminalreporter):
    """How many presses of START the browser tests' streams needed (devkit.browser.start)."""
    from devkit.browser import START_PRESSES

    if START_PRESSES:
        again = sum(1 for n in START_PRESSES if n > 1)
        terminalreporter.write_line(
            f"START presses: {len(START_PRESSES)} streams, {sum(START_PRESSES)} presses; "
            f"{again} stream{'s' if again != 1 else ''} needed more than one press"
        )


@pytest.fixture
def served(monkeypatch) -> dict[str, bytes]:
    """What the pages hand to Streamlit's media storage (downloads, videos): {file name or mimetype: bytes}."""
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    files: dict[str, bytes] = {}
    real = MemoryMediaFileStorage.load_and_get_id

    def spy(self, path_or_data, mimetype, kind, filename=None):
        files[filename or mimetype] = path_or_data
        return real(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", spy)
    return files


@pytest.fixture(scope="session")
def fresh_python(tmp_path_factory) -> Path:
    """The Python of a fresh virtual environment with only ``requirements.txt`` installed (the
    README's first command): the app's deployability (test_fresh_env.py) and the wheel
    (test_packaging.py) are checked in it."""
    import subprocess
    import sys

    venv = tmp_path_factory.mktemp("fresh") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "-r", str(ROOT / "requirements.txt")],
        capture_output=True,
        text=True,
        timeout=1800,
        env=env,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    return python
