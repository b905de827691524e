"""Faces whose expression cannot be read (emotion/face/quality.py): the measures on real
photos, and what the app does with such a face (caption, timeline, fusion, tracking)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from emotion.face.analyzer import FaceEmotion, FaceEmotionAnalyzer
from emotion.face.draw import face_caption
from emotion.face.quality import FaceView, ReadabilityRule, sharpness, turn_ratio, yaw_degrees
from emotion.face.track import FaceTracker
from emotion.fusion import face_samples
from emotion.labels import EMOTIONS
from emotion.schema import FaceStatus
from emotion.timeline import face_row


def _keypoints(nose_dx: float, roll_deg: float = 0.0) -> np.ndarray:
    """BlazeFace-ordered keypoints of a face with eyes 40 px apart and the nose tip
    ``nose_dx`` eye distances to the side, turned ``roll_deg`` in the image plane."""
    pts = np.array([[-20, 0], [20, 0], [40 * nose_dx, 20], [0, 40], [-35, 5], [35, 5]], np.float64)
    a = np.radians(roll_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return (pts @ rot.T + 200)[None]


def test_turn_ratio_grows_with_the_nose_offset_and_ignores_a_tilted_head():
    assert turn_ratio(_keypoints(0.0))[0] == pytest.approx(0.0, abs=1e-9)
    assert turn_ratio(_keypoints(0.47))[0] == pytest.approx(0.47)
    assert turn_ratio(_keypoints(-0.47))[0] == pytest.approx(0.47)  # turned the other way
    assert turn_ratio(_keypoints(0.47, roll_deg=30))[0] == pytest.approx(0.47)  # a tilt is not a turn
    assert yaw_degrees(0.47) == pytest.approx(45.0)
    assert turn_ratio(np.zeros((2, 0, 2))).tolist() == [0.0, 0.0]  # Haar: no keypoints


def test_rule_order_and_thresholds():
    rule = ReadabilityRule()
    assert rule.judge(100, 0.1, 500).readable
    assert rule.judge(100, 1.2, 500).status == FaceStatus.TURNED_AWAY
    assert rule.judge(12, 1.2, 5).status == FaceStatus.TURNED_AWAY  # turned is reported first
    assert rule.judge(rule.min_side_px - 1, 0.1, 500).status == FaceStatus.TOO_SMALL
    assert rule.judge(100, 0.1, rule.min_sharpness - 1).status == FaceStatus.TOO_BLURRED
    assert rule.judge(100, float("nan"), 500).readable  # no keypoints: the turn is unknown


def test_the_real_astronaut_is_readable(analyzer, astronaut_bgr):
    (face,) = analyzer.analyze_photo(astronaut_bgr)
    assert face.readable and face.status == FaceStatus.READ
    assert face.label == "happy"
    assert face.view.turn < 0.1 and face.view.sharpness > 10 * ReadabilityRule().min_sharpness


def test_a_blurred_photo_is_too_blurred(analyzer, astronaut_bgr):
    # slightly blurred: still read; strongly blurred (still found): no expression
    (soft,) = analyzer.analyze_photo(cv2.GaussianBlur(astronaut_bgr, (0, 0), 3))
    assert soft.readable and soft.label == "happy"
    (blurred,) = analyzer.analyze_photo(cv2.GaussianBlur(astronaut_bgr, (0, 0), 5))
    assert blurred.status == FaceStatus.TOO_BLURRED
    assert blurred.view.sharpness < soft.view.sharpness


def test_a_tiny_face_is_too_small(analyzer, astronaut_bgr):
    (face,) = analyzer.analyze_photo(cv2.resize(astronaut_bgr, (96, 96), interpolation=cv2.INTER_AREA))
    assert face.view.side_px < ReadabilityRule().min_side_px
    assert face.status == FaceStatus.TOO_SMALL
    (larger,) = analyzer.analyze_photo(cv2.resize(astronaut_bgr, (160, 160), interpolation=cv2.INTER_AREA))
    assert larger.readable


def test_sharpness_compares_faces_of_any_size(astronaut_bgr):
    gray = cv2.cvtColor(astronaut_bgr, cv2.COLOR_BGR2GRAY)[60:190, 165:290]
    big = sharpness([gray])[0]
    assert sharpness([cv2.resize(gray, (250, 250))])[0] == pytest.approx(big, rel=0.35)  # measured at 48 px
    assert sharpness([cv2.GaussianBlur(gray, (0, 0), 4)])[0] < big / 4


@pytest.fixture
def turned_away(astronaut_bgr):
    """The astronaut through an analyzer whose rule calls every face turned away: the
    app's handling of an unreadable face, on a real face."""
    strict = FaceEmotionAnalyzer(rule=ReadabilityRule(max_turn=-1.0))
    (face,) = strict.analyze_photo(astronaut_bgr)
    return face


def test_an_unreadable_face_is_shown_with_its_reason_not_a_label(turned_away):
    assert not turned_away.readable and turned_away.status == FaceStatus.TURNED_AWAY
    assert face_caption(turned_away, 1) == "#1 face turned away"
    report = turned_away.to_dict()
    assert report["label"] is None and report["face_status"] == "turned_away"
    row = face_row(turned_away, 1.5, "photo.jpg")
    assert row["label"] is None and row["face_status"] == "turned_away"
    assert not {f"face_{e}" for e in EMOTIONS} & set(row)  # no probabilities in the timeline


def test_an_unreadable_face_is_not_fused_nor_smoothed_in(turned_away, analyzer, astronaut_bgr):
    (readable,) = analyzer.analyze_photo(astronaut_bgr)
    tracker = FaceTracker()
    (first,) = tracker.update([readable], 0.0)
    sad = np.eye(7, dtype=np.float32)[4]
    unreadable_sad = FaceEmotion(readable.box, sad, 0.9, FaceView(107, 1.5, 500, FaceStatus.TURNED_AWAY))
    (second,) = tracker.update([unreadable_sad], 0.1)
    assert second.face_id == first.face_id and not second.readable
    np.testing.assert_allclose(second.probabilities, first.probabilities)  # the turned-away frame changed nothing
    assert face_samples(0.1, [second]) == [] and len(face_samples(0.0, [first])) == 1


def test_the_rule_can_be_switched_off(astronaut_bgr):

    from emotion.config import Settings

    settings = Settings.from_env().replace(face_readability=False)
    (face,) = FaceEmotionAnalyzer(settings=settings).analyze_photo(cv2.resize(astronaut_bgr, (96, 96)))
    assert face.view is None and face.readable  # labelled however small


def test_fer2013_through_the_apps_detector_and_crop(fer_npz, analyzer):
    # training/evaluate_face_app.py on a seeded subset: the app's crop of a detected FER2013 face
    # is FER2013's own square (the model's training framing), and the faces found are read
    from training.evaluate_face import _split
    from training.evaluate_face_app import DEGRADATIONS, run_fer2013

    faces, labels, plus = _split(fer_npz, "PublicTest", 120, 0)
    r = run_fer2013(analyzer.detector, analyzer.classifier, faces, labels, plus)
    assert r["found_rate"] > 0.6
    assert 0.95 < r["box_10"]["side_ratio_median"] < 1.2 and abs(r["box_10"]["centre_dx_median"]) < 0.05
    assert 1.2 < r["box_25"]["side_ratio_median"] < 1.45
    assert r["box_10"]["accuracy_found"] > 0.5
    rng = np.random.default_rng(0)
    for name, degrade in DEGRADATIONS.items():
        out = degrade(faces[0], rng)
        assert out.shape == (48, 48) and out.dtype == np.uint8, name
