"""Real browser: Debian chromium driven by Playwright against `streamlit run localapp.py`.

The fake camera plays a Y4M made from a real face photo (scikit-image's astronaut); the
fake microphone plays real speech (two RAVDESS clips with pauses), looped by Chromium.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import cv2
import pytest

from devkit.browser import metric, open_and_start
from devkit.media import chromium_media_args, face_scene, write_y4m
from emotion.config import Settings
from emotion.labels import EMOTIONS
from emotion.models import read_card
from emotion.timeline import TIMELINE_COLUMNS

pytestmark = pytest.mark.browser
LABELS = "|".join(EMOTIONS)


@pytest.fixture(scope="module")
def browser(chromium_path, astronaut_bgr, live_speech_wav, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    media = tmp_path_factory.mktemp("media")
    y4m = write_y4m(media / "face.y4m", [face_scene(astronaut_bgr)] * 10).resolve()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, args=chromium_media_args(y4m, live_speech_wav))
        yield b
        b.close()


@pytest.fixture
def page(browser, request, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        # what the person would have seen: the page text, the WebRTC component's text, a screenshot
        shot = tmp_path / "failure.png"
        page.screenshot(path=str(shot), full_page=True)
        frames = [f.inner_text("body")[:2000] for f in page.frames[1:] if f.url.startswith("http")]
        print(f"---- page text ----\n{page.inner_text('body')[:4000]}\n---- iframes ----\n{frames}\nscreenshot: {shot}")
    page.close()


def _download(page, button: str, attempts: int = 2) -> Path:
    """Click ``button`` and return the downloaded file. A second click, as a person would give, when
    the browser reports the download canceled: seen once in a full CI-like run on the 2-core machine,
    where the dashboard's fragments rerun every second and Streamlit had already dropped the
    deferred file the click asked for (the click is printed, like the START presses)."""
    from playwright.sync_api import Error as PlaywrightError

    for attempt in range(1, attempts + 1):
        with page.expect_download(timeout=30_000) as download:
            page.get_by_role("button", name=button).click()
        try:
            return Path(download.value.path())
        except PlaywrightError as exc:
            if attempt == attempts:
                raise
            print(f"download click {attempt} of {button!r}: {exc}; clicking again")
    raise AssertionError("unreachable")


def test_live_camera_labels_a_real_face(page, streamlit_url, tmp_path):
    webrtc = open_and_start(page, f"{streamlit_url}/Live_camera")

    caption = page.get_by_text(re.compile(rf"^Followed face: #1 ({LABELS}) \d+%$"))
    caption.wait_for(timeout=120_000)
    assert caption.count() == 1

    rate = page.locator('[data-testid="stMetric"]', has_text="Processing rate")
    page.wait_for_function(
        """() => [...document.querySelectorAll('[data-testid="stMetricValue"]')]
                 .some(e => parseFloat(e.innerText) > 0)""",
        timeout=30_000,
    )
    fps = float(rate.locator('[data-testid="stMetricValue"]').inner_text())
    assert fps > 0
    # the annotated video comes back to the browser and plays
    webrtc.locator("video").first.wait_for(timeout=10_000)
    assert webrtc.locator("video").first.evaluate("v => v.videoWidth") == 640
    # the trend chart appears once samples arrive
    page.get_by_text("Followed face, last 60 s").first.wait_for(  # plotly 7 draws a title twice (two tspans)
        timeout=30_000
    )
    webrtc.get_by_role("button", name="STOP").click()
    # after STOP nothing is in view: the page says so instead of the last rate, count and face
    page.get_by_text("Stopped: the camera is off.").wait_for(timeout=30_000)
    assert rate.locator('[data-testid="stMetricValue"]').inner_text() == "–"
    faces = page.locator('[data-testid="stMetric"]', has_text="Faces in view")
    assert faces.locator('[data-testid="stMetricValue"]').inner_text() == "–"
    assert page.get_by_text(re.compile(r"^Followed face:")).count() == 0
    page.screenshot(path=str(tmp_path / "camera-stopped.png"), full_page=True)  # to look at


def test_photo_upload_in_the_browser(page, streamlit_url, astronaut_bgr, tmp_path):
    photo = tmp_path / "astronaut.jpg"
    cv2.imwrite(str(photo), astronaut_bgr)
    page.goto(f"{streamlit_url}/Photo")
    page.get_by_text("Choose a photo to analyse.").wait_for(timeout=60_000)
    page.locator("input[type=file]").set_input_files(str(photo))
    page.get_by_text("1 face found: #1 happy").wait_for(timeout=60_000)
    page.get_by_text("Download annotated image (PNG)").wait_for(timeout=10_000)
    page.get_by_text("Download results (JSON)").wait_for(timeout=10_000)
    assert page.locator('[data-testid="stException"]').count() == 0
    # one face: a bar chart a person can read, not a strip one small-multiple row high
    chart = page.locator(".js-plotly-plot").first
    chart.wait_for(timeout=30_000)
    assert chart.bounding_box()["height"] >= 300


@pytest.mark.parametrize(
    "route, prompt, name, data",
    [
        ("Photo", "Choose a photo to analyse.", "broken.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64),
        ("Audio_file", "Choose", "broken.wav", b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 30),
    ],
)
def test_a_bad_upload_shows_its_error_and_no_progress_bar(page, streamlit_url, tmp_path, route, prompt, name, data):
    """The "Decoding…" bar is gone once the error is shown (it once stayed above it)."""
    path = tmp_path / name
    path.write_bytes(data)
    page.goto(f"{streamlit_url}/{route}")
    page.get_by_text(prompt).first.wait_for(timeout=90_000)
    page.locator("input[type=file]").set_input_files(str(path))
    page.get_by_text("Could not read").wait_for(timeout=60_000)
    assert name in page.locator('[data-testid="stAlert"]').inner_text()
    page.wait_for_timeout(1500)  # a late progress update would have arrived by now
    assert page.locator('[data-testid="stProgress"]').count() == 0
    assert page.get_by_text("Decoding…").count() == 0
    assert page.locator('[data-testid="stException"]').count() == 0


HOME_ENTRY = """() => { const p = document.querySelector('[data-testid="stSidebarNav"] span[label="localapp"] p');
    return p ? getComputedStyle(p, '::after').content : null; }"""


def test_home_page_links_every_page(page, streamlit_url):
    page.goto(streamlit_url)
    page.get_by_text("Multimodal emotion recognition").first.wait_for(timeout=60_000)
    # the sidebar's first entry reads "Home", not the script's name
    page.wait_for_function(f"({HOME_ENTRY})() === '\"Home\"'", timeout=30_000)
    for label in (
        "Live dashboard: webcam and microphone together",
        "Photo: upload a picture",
        "Live camera: your webcam",
        "Voice: speak",
        "Audio file: upload a recording",
        "Video file: tracked faces",
    ):
        page.get_by_text(label).wait_for(timeout=30_000)
    settings = Settings()
    face_card = read_card(settings.model_path(settings.face_model))  # the default face model's measured accuracy
    accuracy = face_card["evaluation"]["PrivateTest"]["accuracy"] * 100
    page.get_by_text(f"FER2013 PrivateTest accuracy {accuracy:.1f}%").wait_for(timeout=30_000)
    voice_card = read_card(settings.model_path(settings.acoustic_model))  # the voice model's figure on unheard corpora
    unheard = voice_card["evaluation"]["chosen_loco"]["test_mean_uar"] * 100
    page.get_by_text(f"on corpora it never heard (leave-one-corpus-out), mean UAR {unheard:.1f}%").wait_for(timeout=30_000)
    assert page.locator('[data-testid="stException"]').count() == 0


def test_voice_page_transcribes_real_speech_with_both_emotions(page, streamlit_url, speech_wav):
    if speech_wav is None:
        pytest.skip("RAVDESS not found (../shared is absent): no real speech for the fake microphone")
    open_and_start(page, f"{streamlit_url}/Voice", expect_video=False)
    line = page.get_by_text(re.compile(r"(kids are talking|dogs are sitting) by the door", re.I)).first
    line.wait_for(timeout=90_000)
    # each part with its own figure (an uncertain voice has none)
    emotions = page.get_by_text(re.compile(rf"^words: ({LABELS}) \d+% · voice: (({LABELS}) \d+%|uncertain)$"))
    emotions.wait_for(timeout=30_000)
    assert emotions.count() == 1
    # the charts of both modalities are drawn
    page.get_by_text("Words (semantic)").first.wait_for(timeout=30_000)
    page.get_by_text("Voice (acoustic)").first.wait_for(timeout=30_000)
    assert page.locator('[data-testid="stException"]').count() == 0


def _classify_typed(page, text: str, expect: str) -> None:
    """Type ``text``, press Classify and wait for ``expect``; again (at most 3 times) when a
    rerun of the page swallowed the typing or the click (seen once on a loaded machine)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(3):
        page.get_by_role("textbox", name="Text").fill(text)
        page.get_by_role("button", name="Classify").click()
        try:
            page.get_by_text(expect).wait_for(timeout=30_000)
            return
        except PlaywrightTimeout:
            continue
    raise AssertionError(f"no {expect!r} after three tries")


def test_voice_page_classifies_typed_text(page, streamlit_url):
    page.goto(f"{streamlit_url}/Voice")
    page.get_by_text("Classify typed text").wait_for(timeout=90_000)
    page.frame_locator("iframe[title*='webrtc']").get_by_role("button", name="START").wait_for(timeout=60_000)
    _classify_typed(page, "I am so happy today, this is wonderful!", "Words (semantic) of the text")
    # the bar of "happy" is the tallest: its label carries the largest percentage
    bars = page.locator(".plot-container").last
    texts = [t for t in bars.locator("text.bartext").evaluate_all("els => els.map(e => e.textContent)") if t and t.endswith("%")]
    assert len(texts) == 7
    values = [int(t.rstrip("%")) for t in texts]
    assert values.index(max(values)) == 3  # happy, in FER2013 order
    # empty text: a clear message, no traceback
    _classify_typed(page, "   ", "Could not classify the text: text is empty")
    assert page.locator('[data-testid="stException"]').count() == 0


def test_live_dashboard_fuses_face_words_and_voice(page, streamlit_url, speech_wav):
    if speech_wav is None:
        pytest.skip("RAVDESS not found (../shared is absent): no real speech for the fake microphone")
    webrtc = open_and_start(page, f"{streamlit_url}/Live_dashboard")

    # a transcript line of the fake microphone's real speech, with its times on the session clock
    line = page.get_by_text(re.compile(r"^\[\d+\.\d–\d+\.\d s\] (kids are talking|dogs are sitting) by the door", re.I)).first
    line.wait_for(timeout=120_000)
    page.get_by_text(
        re.compile(
            rf"^words: ({LABELS}) \d+% · voice: (({LABELS}) \d+%|uncertain) · fused with the face: ({LABELS}) \d+% · "
            r"shown \d+\.\d s after it ended$"
        )
    ).first.wait_for(timeout=30_000)
    # the four charts: current face, face trend, words and voice of the latest utterances
    for title in (
        re.compile(rf"^Current face: #\d+ ({LABELS}) \d+%$"),
        "Face emotion trend, last 60 s",
        "Words, latest utterances",
        "Voice, latest utterances",
    ):
        page.get_by_text(title).first.wait_for(timeout=30_000)
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 4", timeout=30_000)
    # the fused estimate: a label, its probability and the moment it describes
    fused = page.locator('[data-testid="stMetric"]', has_text="Fused emotion")
    assert fused.locator('[data-testid="stMetricValue"]').inner_text() in EMOTIONS
    assert re.fullmatch(r"\d+% · at \d+\.\d s", fused.locator('[data-testid="stMetricDelta"]').inner_text().strip())
    # ...next to each modality's part: what it says, its share of the weight, the seconds it covers
    # (one snapshot where all three have a part: under load one of them can be briefly stale,
    # "no readable face in the last 2 s", and the table is redrawn every second)
    rows = page.wait_for_function(
        r"""labels => {
            const table = [...document.querySelectorAll('table')].find(t => t.innerText.includes('Part'));
            if (!table) return false;
            const part = new RegExp('(' + labels + ') \\d+%\\s+\\d+%');
            const rows = ['Face', 'Words', 'Voice'].map(
                n => [...table.querySelectorAll('tr')].map(r => r.innerText).find(t => t.startsWith(n)) || '');
            return rows.every(r => part.test(r)) ? rows : false;
        }""",
        arg=LABELS,
        timeout=45_000,
    ).json_value()
    for name, row in zip(("Face", "Words", "Voice"), rows, strict=True):
        assert row.startswith(name) and re.search(rf"({LABELS}) \d+%\s+\d+%", row), row
    page.get_by_text(re.compile(r"^Face: mean over \d+\.\d–\d+\.\d s\. Words and voice: ")).first.wait_for(timeout=10_000)
    # the four metrics read in full at this width: no label or value cut off
    cut = page.evaluate(
        """() => [...document.querySelectorAll('[data-testid="stMetric"] .stMarkdownEllipsis')]
              .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent)"""
    )
    assert cut == [], f"truncated metric text: {cut}"
    # the annotated camera view comes back
    assert webrtc.locator("video").first.evaluate("v => v.videoWidth") == 640
    # the layout gives the camera and the current face the width; the transcript scrolls in a box
    # of fixed height instead of pushing the trends down
    assert page.locator("iframe[title*='webrtc']").bounding_box()["width"] >= 450
    assert page.locator(".js-plotly-plot").first.bounding_box()["width"] >= 250  # the current face's chart
    box = page.locator(".st-key-dash_transcript").bounding_box()
    assert 300 <= box["height"] <= 360
    # the session's timeline downloads with the documented columns, faces and utterances in it
    rows = list(csv.DictReader(io.StringIO(_download(page, "Download timeline (CSV)").read_text())))
    assert tuple(rows[0]) == TIMELINE_COLUMNS
    kinds = {r["kind"] for r in rows}
    assert {"face", "utterance", "fused"} <= kinds and {r["source"] for r in rows} == {"live"}
    assert any(re.search(r"(kids are talking|dogs are sitting) by the door", r["text"], re.I) for r in rows)
    # devices cannot change mid-stream; after STOP they can again
    page.get_by_text("Press STOP to change devices.").wait_for(timeout=10_000)
    assert page.locator('[data-testid="stException"]').count() == 0
    webrtc.get_by_role("button", name="STOP").click()
    page.get_by_text("Press STOP to change devices.").wait_for(state="detached", timeout=30_000)
    # after STOP: no stale rate, and the fused estimate describes the end of the stream
    page.locator('[data-testid="stMetric"]', has_text="Fused emotion (end of the stream)").wait_for(timeout=30_000)
    assert metric(page, "Processing rate") == "–" and metric(page, "Faces in view") == "–"
    assert page.locator('[data-testid="stException"]').count() == 0


def test_audio_file_hides_transcripts_not_recognised_as_english(page, streamlit_url, tmp_path):
    """English and Italian speech in one file: the Italian utterances' words (English-sounding
    guesses of the English-only Whisper) are not in the table; they are collapsed below it and
    shown only when opened."""
    emovo = Path(__file__).resolve().parents[2] / "shared" / "data" / "emovo"
    ravdess = Path(__file__).resolve().parents[2] / "shared" / "data" / "ravdess"
    if not (emovo.exists() and ravdess.exists()):
        pytest.skip("RAVDESS or EMOVO not found (../shared is absent): no real English and Italian speech")
    from devkit.media import fake_microphone_wav
    from emotion.speech.audio import load_audio

    clips = [load_audio(ravdess / "Actor_01" / "03-01-01-01-01-01-01.flac")]
    clips += [load_audio(p) for p in sorted(emovo.glob("*/neu-*-l1.flac"))[:2]]
    wav = fake_microphone_wav(tmp_path / "english_and_italian.wav", clips, pause_s=1.2, gain=1.0)
    page.goto(f"{streamlit_url}/Audio_file")
    page.get_by_text("Choose an audio file to analyse.").wait_for(timeout=60_000)
    page.locator("input[type=file]").set_input_files(str(wav))
    page.get_by_text("3 utterances in").wait_for(timeout=180_000)
    page.get_by_text("(not English? transcript hidden)").first.wait_for(timeout=60_000)  # the table, drawn after the charts
    assert page.get_by_text("Kids are talking by the door.").count() == 1
    assert page.get_by_text("(not English? transcript hidden)").count() == 2
    expander = page.get_by_text("Transcripts not recognised as English (2)")
    hidden = page.get_by_text(re.compile(r"^\[\d+\.\d–\d+\.\d s\] \S"))  # the guesses, plain text lines
    assert not any(hidden.nth(i).is_visible() for i in range(hidden.count()))
    expander.click()
    hidden.first.wait_for(state="visible", timeout=10_000)
    assert hidden.count() == 2
    assert page.locator('[data-testid="stException"]').count() == 0


def test_live_dashboard_with_the_camera_off_says_so(page, streamlit_url, speech_wav, tmp_path):
    """Microphone only: the face panels and the fusion table say the camera is off, not that
    they wait for video or saw no face."""
    if speech_wav is None:
        pytest.skip("RAVDESS not found (../shared is absent): no real speech for the fake microphone")
    page.set_viewport_size({"width": 1280, "height": 1000})
    page.goto(f"{streamlit_url}/Live_dashboard")
    page.get_by_text("Press START to begin.").wait_for(timeout=90_000)
    page.locator('[data-testid="stSidebar"]').get_by_text("Camera", exact=True).click()
    page.get_by_text("Camera off: no faces are read.").first.wait_for(timeout=30_000)
    from devkit.browser import start

    start(page.frame_locator("iframe[title*='webrtc']"), expect_video=False)
    page.get_by_text(re.compile(r"^\[\d+\.\d–\d+\.\d s\] ", re.I)).first.wait_for(timeout=120_000)
    assert page.get_by_text("Camera off: no faces are read.").count() == 2  # current face, face trend
    for stale in ("Current face: waiting for video.", "Face emotion trend: no face yet."):
        assert page.get_by_text(stale).count() == 0
    face_row = page.wait_for_function(
        """() => { const t = [...document.querySelectorAll('table')].find(t => t.innerText.includes('Part'));
                   const r = t && [...t.querySelectorAll('tr')].map(r => r.innerText).find(x => x.startsWith('Face'));
                   return r || false; }""",
        timeout=30_000,
    ).json_value()
    assert "camera off" in face_row and "no readable face" not in face_row
    page.screenshot(path=str(tmp_path / "dashboard-camera-off.png"), full_page=True)  # to look at
    assert page.locator('[data-testid="stException"]').count() == 0
