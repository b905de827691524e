"""Nothing is sent anywhere at run time (issue 23), proven where any attempt would be seen: every
model, file analyses, batch on Ray and the Streamlit server with a real browser run in a network
namespace with only loopback, a logging DNS stub and a socket audit hook (tests/netrecord.py).
The only traffic the app may make is documented in docs/deploy.md: STUN/TURN for the live pages'
WebRTC (not exercised here: the browser and the server meet on loopback) and downloads of
Whisper models a user picks by name.

Each run lasts at least 30 s after the models load: onnxruntime's telemetry (the audit's finding)
looked up its server 9, 15 and 23 s after the import."""

from __future__ import annotations

import shutil
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from devkit.media import face_scene, write_video
from tests.fuzz_corpus import _speech, wav_channels
from tests.netrecord import record, unavailable

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=f"no network namespace: {unavailable()}")


@pytest.fixture(scope="module")
def media(tmp_path_factory, astronaut_bgr) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("netmedia")
    speech, rate = _speech()
    photo = folder / "astronaut.png"
    cv2.imwrite(str(photo), astronaut_bgr)
    audio = folder / "speech.wav"
    audio.write_bytes(wav_channels(speech, rate, 1))
    sixteen = cv2.resize(speech[None, :], (int(len(speech) * 16_000 / rate), 1))[0].astype(np.float32)
    video = write_video(folder / "talk.mp4", face_scene(astronaut_bgr), seconds=len(sixteen) / 16_000, fps=10, audio=sixteen)
    return {"photo": photo, "audio": audio, "video": video}


def _assert_nothing_sent(report, allowed_home: tuple[str, ...] = (".cache/emotion/",), allowed_tmp: tuple[str, ...] = ()) -> None:
    assert report.names == [], f"DNS lookups: {report.dns}\n{report.output[-3000:]}"
    assert report.audit == [], f"socket events beyond loopback: {report.audit}"
    stray = [f for f in report.home_files if not f.startswith(allowed_home)]
    assert stray == [], f"files written in HOME: {stray}"
    stray = [f for f in report.tmp_files if not f.startswith(allowed_tmp)] if allowed_tmp else report.tmp_files
    assert stray == [], f"files left in TMPDIR: {stray}"


def test_the_recorder_sees_a_lookup():
    """The control: a lookup is seen, by the DNS stub and by the audit hook."""
    report = record(
        [sys.executable, "-c", "import socket\ntry:\n socket.getaddrinfo('example.org', 443)\nexcept OSError: pass"], 30, ROOT
    )
    assert "example.org" in report.names and any(e["host"] == "example.org" for e in report.audit), report


def test_every_model_and_file_analysis_sends_nothing(media):
    script = textwrap.dedent(
        """
        import sys, time
        t0 = time.monotonic()
        from emotion.face import FaceEmotionAnalyzer
        from emotion.images import decode_image
        from emotion.speech.analyzer import SpeechEmotionAnalyzer
        from emotion.video import VideoEmotionAnalyzer
        faces, speech = FaceEmotionAnalyzer(), SpeechEmotionAnalyzer.from_settings()
        photo, audio, video = sys.argv[1:4]
        print("faces", len(faces.analyze_photo(decode_image(open(photo, "rb").read()))))
        print("utterances", len(list(speech.analyze_file(audio))))
        result = VideoEmotionAnalyzer(faces, speech).analyze(video, annotate=True)
        print("video", len(result.faces), len(result.utterances))
        time.sleep(max(0.0, 32 - (time.monotonic() - t0)))
        print("done")
        """
    )
    report = record([sys.executable, "-c", script, *(str(media[k]) for k in ("photo", "audio", "video"))], 150, ROOT)
    assert report.returncode == 0 and "faces 1" in report.output and "done" in report.output, report.output[-3000:]
    _assert_nothing_sent(report)


def test_batch_on_ray_sends_nothing(media, tmp_path):
    pytest.importorskip("ray")
    inputs = tmp_path / "in"
    inputs.mkdir()
    for f in media.values():
        shutil.copy(f, inputs / f.name)
    script = textwrap.dedent(
        """
        import sys, time
        from emotion.batch import run_batch
        waited = []
        def hold(result):  # the workers stay up (models loaded) past onnxruntime's telemetry times
            print("result", result.path.rsplit("/", 1)[-1], result.status, flush=True)
            if not waited:
                waited.append(1)
                time.sleep(30)
        report = run_batch([sys.argv[1]], sys.argv[2], engine="ray", workers=1, progress=False, on_result=hold)
        print("batch", report.analysed, report.failed)
        """
    )
    report = record([sys.executable, "-c", script, str(inputs), str(tmp_path / "out")], 300, ROOT)
    assert report.returncode == 0 and "batch 3 0" in report.output, report.output[-3000:]
    # Ray's session folder (logs, ports) is its documented temporary folder, $TMPDIR/ray
    _assert_nothing_sent(report, allowed_home=(".cache/emotion/ray-home/",), allowed_tmp=("ray/session_",))


def test_the_app_server_and_its_pages_send_nothing(media):
    pytest.importorskip("playwright")
    if shutil.which("chromium") is None:
        pytest.skip("Debian chromium not installed (apt-get install chromium)")
    script = textwrap.dedent(
        f"""
        import os, shutil, socket, subprocess, sys, time, urllib.request
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        # Streamlit's default address (every interface) and the repository's .streamlit/config.toml
        server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "localapp.py", "--server.port", str(port)])
        url = f"http://127.0.0.1:{{port}}"
        for _ in range(120):
            try:
                urllib.request.urlopen(url + "/_stcore/health", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        from playwright.sync_api import sync_playwright
        # chromium's own services (component updates, autofill) are the browser's, not the app's: its
        # resolver answers "not found" for every name but loopback without asking DNS; what the pages
        # themselves request is logged below, whatever the address
        args = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--no-first-run",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"]
        external = []
        def log_request(request):
            if not request.url.startswith((url, "data:", "blob:", "about:")):
                external.append(request.url)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=args)
                page = browser.new_page()
                page.on("request", log_request)
                page.goto(url + "/Photo")
                page.locator("input[type=file]").set_input_files({str(media["photo"])!r})
                page.get_by_text("1 face found").wait_for(timeout=120_000)
                t0 = time.monotonic()
                page.goto(url + "/Audio_file")
                page.locator("input[type=file]").set_input_files({str(media["audio"])!r})
                page.get_by_text("utterance").first.wait_for(timeout=180_000)
                print("pages done", flush=True)
                time.sleep(max(0.0, 32 - (time.monotonic() - t0)))
                browser.close()
            print("page requests beyond the server:", external)
        finally:
            server.terminate()
            server.wait(20)
        print("done")
        """
    )
    report = record([sys.executable, "-c", script], 360, ROOT)
    assert report.returncode == 0 and "pages done" in report.output, report.output[-4000:]
    assert "page requests beyond the server: []" in report.output, report.output[-4000:]
    # chromium keeps its profile in the fresh HOME (.config, .cache, .pki); the app writes nothing there
    _assert_nothing_sent(
        report, allowed_home=(".cache/emotion/", ".config/chromium/", ".cache/chromium/", ".cache/dconf/", ".pki/")
    )
