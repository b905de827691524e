"""Bad input, in bulk: a generated corpus of 200+ odd files (tests/fuzz_corpus.py) through the
library API, the CLI and the Photo / Audio file / Video file pages (AppTest).

Each file either works or gets a clear one-line message (an :class:`~emotion.errors.InputError`,
a CLI line naming the file, an error box on the page): never a traceback; memory stays bounded
and the page keeps working after each one."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from emotion.errors import EmotionError, InputError
from tests.fuzz_corpus import REAL_SPEECH, build_corpus

ROOT = Path(__file__).resolve().parents[1]
MAX_RSS_MB = 3000  # peak resident memory of the test process, whole corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    files = build_corpus(tmp_path_factory.mktemp("fuzz"))
    assert len(files) >= 200
    return files


@pytest.fixture(scope="module")
def speech_analyzer():
    from emotion.speech.analyzer import SpeechEmotionAnalyzer

    return SpeechEmotionAnalyzer.from_settings()


@pytest.fixture(autouse=True)
def _own_peak():
    """Each test's memory bound is about that test: the process's peak resident memory (VmHWM) is
    reset before it (Linux, /proc/self/clear_refs), so a peak of earlier tests in the same run
    (the training smoke tests load torch) does not count."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass  # elsewhere: the process's peak so far (stricter)


def _peak_rss_mb() -> float:
    """Peak resident memory (MB) of this process since :func:`_own_peak` reset it."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")) / 1024


def test_every_file_through_the_library_api(corpus, analyzer, speech_analyzer):
    from emotion.config import Settings
    from emotion.images import decode_image
    from emotion.video import VideoEmotionAnalyzer

    video = VideoEmotionAnalyzer(analyzer, speech_analyzer)
    max_pixels = Settings.from_env().max_image_pixels
    outcomes: dict[str, str] = {}
    for f in corpus:
        try:
            if f.kind == "image":
                faces = analyzer.analyze_photo(decode_image(f.path.read_bytes(), max_pixels))
                outcomes[f.path.name] = f"ok: {len(faces)} faces"
            elif f.kind == "audio":
                utterances = list(speech_analyzer.analyze_file(f.path))
                outcomes[f.path.name] = f"ok: {len(utterances)} utterances"
            else:
                result = video.analyze(f.path, sample_fps=2.0)
                outcomes[f.path.name] = f"ok: {len(result.faces)} face rows, notes {result.notes}"
        except InputError as exc:
            message = str(exc)
            assert message and "\n" not in message and "Traceback" not in message, (f.path.name, message)
            outcomes[f.path.name] = f"InputError: {message}"
        except EmotionError as exc:  # pragma: no cover - reported with the file's name
            pytest.fail(f"{f.path.name} ({f.what}): EmotionError that is not an InputError: {exc}")
        except Exception as exc:  # noqa: BLE001 - any other exception is a bug
            pytest.fail(f"{f.path.name} ({f.what}): {type(exc).__name__}: {exc}")
    rejected = [n for n, o in outcomes.items() if o.startswith("InputError")]
    print(f"{len(outcomes)} files: {len(rejected)} rejected with a message, {len(outcomes) - len(rejected)} analysed")
    # the corpus is mostly broken on purpose: most files must be rejected, the valid ones analysed
    for name in ("ok.jpg", "ok.png", "cmyk.jpg", "16bit.png", "rgba.png", "animated.gif"):
        hit = next(o for n, o in outcomes.items() if n.endswith(name))
        if name == "animated.gif":
            assert hit.startswith("InputError"), hit  # GIF is not an accepted format
        else:
            assert hit.startswith("ok: 1 faces"), (name, hit)
    for name in ("bomb_60000x60000.png", "bomb_65000x65000.jpg", "empty.png", "truncated_1.jpg", "random_3.webp"):
        assert next(o for n, o in outcomes.items() if n.endswith(name)).startswith("InputError"), name
    speech = {"ok.flac": "ok: 1 utterances", "long_20min.ogg": "ok: 2 utterances"}
    for name, expected in speech.items():  # analysed; with real speech, every sentence found
        outcome = next(o for n, o in outcomes.items() if n.endswith(name))
        assert outcome == expected if REAL_SPEECH else outcome == "ok: 0 utterances", (name, outcome)
    assert next(o for n, o in outcomes.items() if n.endswith("silent_30s.flac")) == "ok: 0 utterances"
    # playlists, concat lists, SDP and archives are refused, whatever their name
    references = {n: o for n, o in outcomes.items() if "_reference_" in n}
    accepted = {n: o for n, o in references.items() if not o.startswith("InputError: not an audio or video file")}
    assert len(references) >= 30 and not accepted, accepted
    assert next(o for n, o in outcomes.items() if n.endswith("no_audio.mp4")).startswith("ok:")
    assert _peak_rss_mb() < MAX_RSS_MB, f"peak RSS {_peak_rss_mb():.0f} MB"


@pytest.mark.parametrize("kind", ["image", "audio", "video"])
def test_every_file_through_the_cli(corpus, kind, tmp_path):
    files = [f for f in corpus if f.kind == kind]
    out = tmp_path / "out.json"
    run = subprocess.run(
        [sys.executable, "-m", "emotion", kind, *[str(f.path) for f in files], "--json", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
    )
    assert run.returncode == 1, run.stderr[-2000:]  # some files are bad: exit code 1, the others analysed
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    complaints = [line for line in run.stderr.splitlines() if line.strip()]
    for line in complaints:
        assert any(str(f.path) in line for f in files), f"a message that names no file: {line!r}"
    named = {f.path.name for f in files if any(str(f.path) in line for line in complaints)}
    assert any(n.endswith("empty.mp4" if kind == "video" else "empty.wav" if kind == "audio" else "empty.png") for n in named)
    timeline = json.loads(out.read_text())
    sources = {row["source"] for row in timeline["rows"]}
    valid = {"image": "ok.jpg", "audio": "ok.flac", "video": "ok.mp4"}[kind]
    if kind == "audio" and not REAL_SPEECH:  # a synthetic vowel: analysed, and no speech in it
        assert any(line.endswith("ok.flac: no speech found") for line in complaints), complaints
    else:
        assert any(s.endswith(valid) for s in sources), sorted(sources)[:20]  # the good files were analysed
    refused = {f.path.name for f in files if "_reference_" in f.path.name}
    assert kind == "image" or refused, "the playlists and archives are in the corpus"
    for name in refused:  # each refused with a message, none analysed
        assert any(name in line and line.startswith("error:") for line in complaints), name
        assert not any(s.endswith(name) for s in sources), name


PAGES = {"image": ("1_Photo.py", "photo"), "audio": ("4_Audio_file.py", "audio"), "video": ("5_Video_file.py", "video")}


@pytest.mark.parametrize("kind", ["image", "audio", "video"])
def test_every_file_through_its_page(corpus, kind):
    from streamlit.testing.v1 import AppTest

    from emotion.images import IMAGE_EXTENSIONS
    from emotion.speech.audio import AUDIO_EXTENSIONS
    from emotion.video import VIDEO_EXTENSIONS

    accepted = {"image": IMAGE_EXTENSIONS, "audio": AUDIO_EXTENSIONS, "video": VIDEO_EXTENSIONS}[kind]
    script, key = PAGES[kind]
    at = AppTest.from_file(str(ROOT / "pages" / script), default_timeout=300)
    at.run()
    assert not at.exception
    shown = 0
    for f in [f for f in corpus if f.kind == kind]:
        # the browser's file picker only offers the page's extensions: other names get one appended
        name = f.path.name if f.path.suffix.lower().lstrip(".") in accepted else f"{f.path.name}.{accepted[0]}"
        at.file_uploader(key=key).set_value((name, f.path.read_bytes(), "application/octet-stream"))
        at.run()
        assert not at.exception, (f.path.name, f.what, at.exception)
        errors = " ".join(str(e.value) for e in at.error)
        assert "Traceback" not in errors
        if errors:
            assert name in errors, (name, errors)  # the message names the file
            shown += 1
        elif "_reference_" in name:
            pytest.fail(f"{name} ({f.what}) was not refused")
        else:
            assert at.success or at.warning, (f.path.name, "neither a result nor a message")
    assert shown > 0
    assert _peak_rss_mb() < MAX_RSS_MB, f"peak RSS {_peak_rss_mb():.0f} MB"
