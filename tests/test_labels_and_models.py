import json

import onnx
import pytest

from emotion.config import Settings
from emotion.errors import ModelError
from emotion.face.classify import FaceExpressionClassifier
from emotion.labels import COLORS_HEX, EMOTIONS, color_bgr, index
from emotion.models import OnnxModel


def test_label_order_is_fer2013():
    assert EMOTIONS == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    assert index("happy") == 3 and index("neutral") == 6
    assert set(COLORS_HEX) == set(EMOTIONS)
    assert len(set(COLORS_HEX.values())) == 7, "each label needs its own colour"
    assert color_bgr("angry") == (0x28, 0x27, 0xD6)


def test_shipped_model_card_and_onnx_metadata_agree_on_labels():
    path = Settings().model_path("mini_xception")
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["labels"] == list(EMOTIONS)
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert meta["labels"].split(",") == list(EMOTIONS)
    assert card["input"]["shape"] == ["N", 1, 64, 64]
    assert path.with_suffix(".md").exists()


def test_missing_model_file_names_the_file(tmp_path):
    with pytest.raises(ModelError, match="nothing.onnx"):
        OnnxModel(tmp_path / "nothing.onnx")


def test_corrupt_model_file_is_a_clear_error(tmp_path):
    src = Settings().model_path("mini_xception")
    bad = tmp_path / "mini_xception.onnx"
    bad.write_bytes(src.read_bytes()[:1000])
    bad.with_suffix(".json").write_text(src.with_suffix(".json").read_text())
    with pytest.raises(ModelError, match="could not be loaded"):
        FaceExpressionClassifier(bad)


def test_card_with_other_labels_is_refused(tmp_path):
    src = Settings().model_path("mini_xception")
    other = tmp_path / "m.onnx"
    other.write_bytes(src.read_bytes())
    card = json.loads(src.with_suffix(".json").read_text())
    card["labels"] = list(reversed(card["labels"]))
    other.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="labels"):
        FaceExpressionClassifier(other)


def test_settings_from_env(monkeypatch):
    monkeypatch.setenv("EMOTION_LIVE_DETECT_MAX_SIDE", "400")
    monkeypatch.setenv("EMOTION_FACE_MODEL", "other")
    s = Settings.from_env()
    assert s.live_detect_max_side == 400 and s.photo_detect_max_side == 1280
    assert s.model_path("other").name == "other.onnx"
    monkeypatch.setenv("EMOTION_PHOTO_DETECT_MAX_SIDE", "big")
    with pytest.raises(ValueError, match="EMOTION_PHOTO_DETECT_MAX_SIDE"):
        Settings.from_env()


def test_env_chooses_model_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("EMOTION_MODELS_DIR", str(tmp_path))
    with pytest.raises(ModelError, match=str(tmp_path)):
        FaceExpressionClassifier()
