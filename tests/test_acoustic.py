"""Acoustic (voice) emotion: features, label mapping, the shipped ONNX model and its card,
and ONNX-vs-scikit-learn agreement of the training script's export (on real RAVDESS clips)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from emotion.errors import InputError, ModelError
from emotion.labels import EMOTIONS, from_ravdess
from emotion.speech.acoustic import FEATURE_DIM, FEATURE_NAMES, FEATURE_SETS, AcousticEmotionClassifier, acoustic_features
from emotion.speech.audio import SAMPLE_RATE, load_audio

ROOT = Path(__file__).resolve().parents[1]
RAVDESS = ROOT.parent / "shared" / "data" / "ravdess"
MODEL = ROOT / "models_onnx" / "acoustic_emotion.onnx"
# actor 24 (female), emotion codes: 05 angry, 03 happy, 02 calm, 08 surprised
CLIPS = ("03-01-05-02-01-01-24.flac", "03-01-03-02-01-01-24.flac", "03-01-02-01-01-01-24.flac", "03-01-08-02-02-01-24.flac")


@pytest.fixture(scope="module")
def ravdess() -> Path:
    if not (RAVDESS / "Actor_24").is_dir():
        pytest.skip(f"RAVDESS data not found at {RAVDESS} (../shared is absent in a user's clone)")
    return RAVDESS


@pytest.fixture(scope="module")
def waves(ravdess) -> list[np.ndarray]:
    return [load_audio(ravdess / "Actor_24" / name) for name in CLIPS]


@pytest.fixture(scope="module")
def classifier() -> AcousticEmotionClassifier:
    return AcousticEmotionClassifier(MODEL)


def _check(f: np.ndarray) -> None:
    assert f.shape == (FEATURE_DIM,)
    assert f.dtype == np.float32
    assert np.isfinite(f).all()


def test_feature_names_match_dimension():
    assert len(FEATURE_NAMES) == FEATURE_DIM == 819
    assert len(set(FEATURE_NAMES)) == FEATURE_DIM


def test_features_of_a_real_clip(waves):
    f = acoustic_features(waves[0])
    _check(f)
    assert np.std(f) > 0
    # a different utterance gives different features; the same one the same features
    assert not np.allclose(f, acoustic_features(waves[2]))
    np.testing.assert_array_equal(f, acoustic_features(waves[0]))


def test_features_resample_other_rates(waves):
    import librosa

    x48 = librosa.resample(waves[0], orig_sr=SAMPLE_RATE, target_sr=48_000)
    f = acoustic_features(x48, sample_rate=48_000)
    _check(f)
    ref = acoustic_features(waves[0])
    assert np.corrcoef(f, ref)[0, 1] > 0.99


def test_features_of_silence_and_short_input():
    _check(acoustic_features(np.zeros(2 * SAMPLE_RATE, np.float32)))
    short = (0.1 * np.sin(2 * np.pi * 220 * np.arange(SAMPLE_RATE // 10) / SAMPLE_RATE)).astype(np.float32)
    _check(acoustic_features(short))
    _check(acoustic_features(np.zeros(1, np.float32)))


def test_empty_or_bad_input_raises():
    with pytest.raises(InputError):
        acoustic_features(np.zeros(0, np.float32))
    with pytest.raises(InputError):
        acoustic_features(np.zeros((2, 100), np.float32))


def test_ravdess_label_mapping():
    assert from_ravdess(2) == "neutral"  # calm
    assert from_ravdess(1) == "neutral"
    assert from_ravdess(8) == "surprise"
    assert from_ravdess(5) == "angry"
    with pytest.raises(KeyError):
        from_ravdess(9)


def test_shipped_card():
    card = json.loads(MODEL.with_suffix(".json").read_text())
    assert card["labels"] == list(EMOTIONS)
    assert card["input"]["feature_set"] in FEATURE_SETS
    assert card["input"]["shape"] == ["N", card["input"]["feature_dim"]]
    assert card["evaluation"]["chosen"]["accuracy"] >= 0.55  # leave-actors-out, 7 mapped classes
    # the comparison covers at least 7 classifiers, each with and without augmentation (librosa features)
    librosa_rows = [r["model"] for r in card["evaluation"]["comparison"] if r["feature_set"] == "librosa"]
    assert len({m.split("/")[1].removesuffix("+aug") for m in librosa_rows}) >= 7
    assert sum(m.endswith("+aug") for m in librosa_rows) >= 7
    assert "CC BY-NC-SA" in card["licence"]
    assert MODEL.with_suffix(".md").read_text().startswith("# Model card: acoustic_emotion")


def test_shipped_model_on_real_clips(classifier, waves):
    probs = [classifier.predict(w) for w in waves]
    for p in probs:
        assert p.shape == (len(EMOTIONS),)
        assert p.dtype == np.float32
        assert abs(float(p.sum()) - 1.0) < 1e-5
        assert (p >= 0).all()
    batch = classifier.predict_features(np.stack([classifier.features(w) for w in waves]))
    assert batch.shape == (len(waves), len(EMOTIONS))
    np.testing.assert_allclose(batch, np.stack(probs), atol=1e-6)
    # training clip of a clearly acted emotion: the model gets it right
    assert EMOTIONS[int(np.argmax(probs[0]))] == "angry"


def test_predict_is_thread_safe(classifier, waves):
    feats = np.stack([classifier.features(w) for w in waves])
    ref = classifier.predict_features(feats)
    out: list[np.ndarray] = []

    def work():
        for _ in range(20):
            out.append(classifier.predict_features(feats))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(out) == 80
    for o in out:
        np.testing.assert_allclose(o, ref, atol=1e-6)


def test_classifier_rejects_wrong_inputs(classifier, tmp_path):
    with pytest.raises(InputError):
        classifier.predict_features(np.zeros((2, classifier.feature_dim - 1), np.float32))
    assert classifier.predict_features(np.zeros((0, classifier.feature_dim), np.float32)).shape == (0, len(EMOTIONS))
    with pytest.raises(ModelError):
        AcousticEmotionClassifier(tmp_path / "missing.onnx")
    # a card whose feature dimension differs from the extractor's is refused
    (tmp_path / "m.onnx").write_bytes(MODEL.read_bytes())
    card = json.loads(MODEL.with_suffix(".json").read_text())
    card["input"]["shape"] = ["N", classifier.feature_dim + 1]
    (tmp_path / "m.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="expected input"):
        AcousticEmotionClassifier(tmp_path / "m.onnx")


def test_smoke_training_export_matches_scikit_learn(ravdess, tmp_path):
    from training.train_acoustic import list_clips, train

    result = train(ravdess, tmp_path, smoke=True, cache=False, log=lambda s: None)
    assert result.onnx_path == tmp_path / "acoustic_emotion.onnx"
    assert result.onnx_path.is_file()
    card = json.loads(result.onnx_path.with_suffix(".json").read_text())
    assert card["labels"] == list(EMOTIONS)
    assert card["conversion"]["checks_on_real_clips"]["argmax_agreement"] == 1.0
    # held-out clips: actor 24 is not in the smoke subset (actors 1-4)
    used = {c.path for c in result.clips}
    held = [c for c in list_clips(ravdess) if c.actor == 24 and c.path not in used][:12]
    classifier = AcousticEmotionClassifier(result.onnx_path)
    assert classifier.feature_set == result.feature_set == card["input"]["feature_set"]
    X = np.stack([classifier.features(load_audio(c.path)) for c in held])  # the chosen feature set's features
    p_skl = result.model.predict_proba(X)
    p_onnx = classifier.predict_features(X)
    assert p_onnx.shape == (len(held), len(EMOTIONS))
    np.testing.assert_allclose(p_onnx, p_skl, atol=1e-4)
    assert (p_onnx.argmax(1) == p_skl.argmax(1)).all()


def test_whisper_encoder_embedding_of_real_speech(waves):
    from emotion.speech.encoder import EMBEDDING_DIM, WhisperEncoderEmbedder

    embed = WhisperEncoderEmbedder()
    e = [embed(w) for w in waves]
    assert all(v.shape == (EMBEDDING_DIM,) and v.dtype == np.float32 and np.isfinite(v).all() for v in e)
    # the same utterance gives (nearly) the same embedding; another utterance a different one
    assert np.abs(embed(waves[0]) - e[0]).max() < 0.05
    assert np.abs(e[0] - e[2]).max() > 0.1
    with pytest.raises(InputError):
        embed(np.zeros(0, np.float32))


def test_unknown_feature_set_in_a_card_is_refused(tmp_path):
    (tmp_path / "m.onnx").write_bytes(MODEL.read_bytes())
    card = json.loads(MODEL.with_suffix(".json").read_text())
    card["input"]["feature_set"] = "wav2vec9"
    (tmp_path / "m.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="wav2vec9"):
        AcousticEmotionClassifier(tmp_path / "m.onnx")
