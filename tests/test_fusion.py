"""Late fusion: agreement, conflict, absent and uncertain modalities, user weights, time alignment."""

import numpy as np
import pytest

from emotion.fusion import FaceSample, certainty, face_over_span, fuse, fuse_utterance
from emotion.labels import EMOTIONS, index

UNIFORM = np.full(7, 1 / 7)


def peaked(label: str, p: float) -> np.ndarray:
    v = np.full(7, (1 - p) / 6)
    v[index(label)] = p
    return v


def test_certainty_is_one_when_certain_and_zero_when_uniform():
    assert certainty(np.eye(7)[3]) == pytest.approx(1.0, abs=1e-6)
    assert certainty(UNIFORM) == pytest.approx(0.0, abs=1e-9)
    assert certainty(peaked("sad", 0.9)) > certainty(peaked("sad", 0.5)) > 0


@pytest.mark.parametrize("rule", ["log_linear", "linear"])
def test_output_is_a_distribution_in_label_order(rule):
    out = fuse({"face": peaked("happy", 0.7), "acoustic": peaked("sad", 0.6)}, rule=rule)
    assert out.probabilities.shape == (7,) and out.probabilities.dtype == np.float32
    assert abs(float(out.probabilities.sum()) - 1) < 1e-6
    assert out.label in EMOTIONS and out.score == pytest.approx(float(out.probabilities.max()))


def test_agreeing_modalities_reinforce_each_other_only_in_the_log_linear_pool():
    a, b = peaked("happy", 0.6), peaked("happy", 0.6)
    out = fuse({"face": a, "semantic": b}, rule="log_linear")
    assert out.label == "happy" and out.score > 0.6
    # the default linear pool never becomes more confident than its inputs
    assert fuse({"face": a, "semantic": b}).score == pytest.approx(0.6, abs=1e-6)


def two_seconds(first: str, second: str, p1: float, p2: float) -> np.ndarray:
    v = np.full(7, (1 - p1 - p2) / 5)
    v[index(first)], v[index(second)] = p1, p2
    return v


@pytest.mark.parametrize("rule", ["linear", "log_linear"])
def test_the_fused_label_is_one_a_modality_said(rule):
    # seen on the dashboard: words neutral, voice sad, and the pool crowned angry, which both
    # ranked second
    words = two_seconds("neutral", "angry", 0.40, 0.36)
    voice = two_seconds("sad", "angry", 0.40, 0.36)
    out = fuse({"semantic": words, "acoustic": voice}, rule=rule)
    assert EMOTIONS[int(np.argmax(out.probabilities))] == "angry"  # the pool itself ranks angry first
    assert out.label in {"neutral", "sad"} and out.label != "angry"
    assert out.score == pytest.approx(float(out.probabilities[index(out.label)]))


def test_the_estimate_says_what_each_modality_said_and_its_share():
    out = fuse({"face": peaked("sad", 0.66), "semantic": peaked("happy", 0.95), "acoustic": None})
    assert out.says() == {"face": ("sad", pytest.approx(0.66)), "semantic": ("happy", pytest.approx(0.95))}
    shares = out.shares()
    assert set(shares) == {"face", "semantic"} and sum(shares.values()) == pytest.approx(1.0)
    assert shares["semantic"] > shares["face"]  # the more confident modality counts more
    expected = (out.weights["face"] * peaked("sad", 0.66) + out.weights["semantic"] * peaked("happy", 0.95)) / sum(
        out.weights.values()
    )
    np.testing.assert_allclose(out.probabilities, expected, atol=1e-4)  # the weighted mean, as documented


def test_in_a_conflict_the_more_confident_modality_wins():
    out = fuse({"face": peaked("happy", 0.9), "acoustic": peaked("angry", 0.35)})
    assert out.label == "happy"
    out = fuse({"face": peaked("happy", 0.35), "acoustic": peaked("angry", 0.9)})
    assert out.label == "angry"
    assert out.weights["acoustic"] > out.weights["face"]


def test_an_uncertain_or_absent_modality_does_not_drag_the_result():
    face = peaked("surprise", 0.55)
    alone = fuse({"face": face})
    with_uniform = fuse({"face": face, "acoustic": UNIFORM, "semantic": None})
    np.testing.assert_allclose(with_uniform.probabilities, alone.probabilities, atol=1e-6)
    assert "acoustic" not in with_uniform.weights and "semantic" not in with_uniform.weights
    np.testing.assert_allclose(alone.probabilities, face, atol=1e-6)  # one modality: itself


def test_user_weights_switch_off_and_tip_the_balance():
    face, voice = peaked("happy", 0.7), peaked("sad", 0.7)
    assert fuse({"face": face, "acoustic": voice}, weights={"face": 0}).label == "sad"
    assert fuse({"face": face, "acoustic": voice}, weights={"acoustic": 3}).label == "sad"
    assert fuse({"face": face, "acoustic": voice}, weights={"face": 3}).label == "happy"
    assert fuse({"face": face}, weights={"face": 0}) is None
    assert fuse({"face": None, "acoustic": None}) is None


def test_a_zero_probability_cannot_veto_a_label():
    face = np.array([0, 0, 0, 1.0, 0, 0, 0])  # certain happy
    words = peaked("happy", 0.3)
    words[index("happy")] = 0.0
    words /= words.sum()  # says "anything but happy", weakly
    assert fuse({"face": face, "semantic": words}).label == "happy"


@pytest.mark.parametrize(
    "bad",
    [np.ones(6) / 6, -peaked("happy", 0.5), np.full(7, np.nan), np.zeros(7)],
)
def test_bad_vectors_are_refused(bad):
    with pytest.raises(ValueError):
        fuse({"face": bad})


def test_bad_rule_and_weight():
    with pytest.raises(ValueError, match="rule"):
        fuse({"face": UNIFORM}, rule="max")
    with pytest.raises(ValueError, match="weight"):
        fuse({"face": peaked("happy", 0.5)}, weights={"face": -1})


def test_the_followed_face_is_averaged_over_an_utterance():
    t = [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    samples = [FaceSample(ti, 1, 900, peaked("happy" if ti < 1.4 else "sad", 0.9)) for ti in t]
    _, mid = face_over_span(samples, 0.9, 1.6)  # one happy sample (1.0), one sad sample (1.5)
    assert mid[index("happy")] == pytest.approx(mid[index("sad")]) and abs(float(mid.sum()) - 1) < 1e-6
    assert EMOTIONS[int(np.argmax(face_over_span(samples, 1.9, 3.0)[1]))] == "sad"
    assert face_over_span(samples, 5.0, 6.0) is None


def test_one_rule_picks_the_face_followed_over_a_span():
    # face 2 is larger but on screen for one frame; face 1 is there the whole utterance
    samples = [FaceSample(t, 1, 400, peaked("sad", 0.8)) for t in (0.0, 0.5, 1.0, 1.5)]
    samples.append(FaceSample(1.0, 2, 10_000, peaked("happy", 0.9)))
    face_id, probs = face_over_span(samples, 0.0, 2.0)
    assert face_id == 1 and EMOTIONS[int(np.argmax(probs))] == "sad"
    # seen as often: the larger face wins, then the lower ID
    samples.append(FaceSample(1.5, 2, 10_000, peaked("happy", 0.9)))
    assert face_over_span(samples, 1.0, 1.5)[0] == 2
    tie = [FaceSample(0.0, 7, 100, UNIFORM), FaceSample(0.0, 3, 100, UNIFORM)]
    assert face_over_span(tie, 0.0, 0.0)[0] == 3


def test_an_utterance_is_fused_with_the_face_seen_while_it_was_spoken():
    from emotion.speech.analyzer import Utterance

    samples = [FaceSample(t / 10, 4, 900, peaked("happy", 0.9)) for t in range(0, 30)]
    samples += [FaceSample(3 + t / 10, 5, 900, peaked("angry", 0.9)) for t in range(0, 30)]
    u = Utterance(3.2, 5.0, "hm", peaked("angry", 0.6), None)
    fused = fuse_utterance(u, samples)
    assert fused.face_id == 5 and fused.label == "angry" and set(fused.weights) == {"face", "semantic"}
    assert fuse_utterance(Utterance(9.0, 9.5, "", None, None), samples) is None
    words_only = fuse_utterance(Utterance(9.0, 9.5, "hm", peaked("sad", 0.9), None), samples)
    assert words_only.face_id is None and words_only.label == "sad"


def test_an_uncertain_voice_counts_at_a_quarter_of_its_weight():
    from emotion.fusion import UNCERTAIN_ACOUSTIC_WEIGHT
    from emotion.speech.analyzer import Utterance

    words, voice = peaked("happy", 0.55), peaked("sad", 0.38)
    sure = fuse_utterance(Utterance(0.0, 1.0, "hm", words, voice, acoustic_status="confident"), [])
    unsure = fuse_utterance(Utterance(0.0, 1.0, "hm", words, voice, acoustic_status="uncertain"), [])
    assert unsure.weights["acoustic"] == pytest.approx(
        sure.weights["acoustic"] * UNCERTAIN_ACOUSTIC_WEIGHT, abs=1e-4
    )  # rounded to 4 places
    assert unsure.weights["semantic"] == pytest.approx(sure.weights["semantic"])
    assert unsure.probabilities[index("sad")] < sure.probabilities[index("sad")]
    assert unsure.label == "happy"
    # the user's own weight is kept and scaled, not replaced
    scaled = fuse_utterance(Utterance(0.0, 1.0, "hm", words, voice, acoustic_status="uncertain"), [], {"acoustic": 2.0})
    assert scaled.weights["acoustic"] == pytest.approx(2 * unsure.weights["acoustic"], abs=1e-4)


def test_timeline_rows_export_as_csv_and_json():
    import csv
    import io
    import json

    from emotion.face.analyzer import FaceEmotion
    from emotion.speech.analyzer import Utterance
    from emotion.timeline import TIMELINE_COLUMNS, Timeline, face_row, fused_row, utterance_row

    tl = Timeline()
    u = Utterance(1.0, 2.5, 'He said "hi", then <b>left</b>', peaked("sad", 0.8), peaked("angry", 0.6))
    tl.add(utterance_row(u, "live"))
    tl.add(face_row(FaceEmotion((10, 20, 30, 40), peaked("happy", 0.9)), 0.5, "live"))
    tl.add(fused_row(fuse({"semantic": u.semantic, "acoustic": u.acoustic}), 1.0, 2.5, "live"))
    rows = list(csv.DictReader(io.StringIO(tl.to_csv())))
    assert [r["kind"] for r in rows] == ["face", "utterance", "fused"]  # ordered by start time
    assert list(rows[0]) == list(TIMELINE_COLUMNS)
    assert rows[1]["text"] == 'He said "hi", then <b>left</b>' and rows[1]["semantic_label"] == "sad"
    assert rows[0]["face_happy"] == "0.9" and rows[0]["x"] == "10" and rows[1]["x"] == ""
    data = json.loads(tl.to_json())
    assert data["labels"] == list(EMOTIONS) and data["rows"][2]["label"] == "sad"
    with pytest.raises(ValueError, match="unknown timeline columns"):
        tl.add({"kind": "face", "start_s": 0, "mood": "ok"})
