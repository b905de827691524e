"""Accuracy of the shipped face-expression models, measured here on every FER2013 PrivateTest
face (and PublicTest where the default's rule needs it): against their cards, and the rule that
picked the default, applied to the measured figures rather than to the cards' numbers."""

import json
from functools import cache

import numpy as np
import pytest

from emotion.config import Settings
from emotion.face.classify import FaceExpressionClassifier
from training.evaluate_face import confusion, load_split, predict

SHIPPED = ("fernet", "fernet_ferplus", "mini_xception")


@pytest.fixture(scope="module")
def measure(fer_npz):
    """``measure(name, split)``: (accuracy, predictions, labels) of a shipped model on every face
    of a FER2013 split (original labels), each pair measured once per module."""

    @cache
    def split_data(split: str) -> tuple[np.ndarray, np.ndarray]:
        return load_split(fer_npz, split)

    @cache
    def run(name: str, split: str) -> tuple[float, np.ndarray, np.ndarray]:
        faces, labels = split_data(split)
        pred = predict(FaceExpressionClassifier(Settings().model_path(name)), faces).argmax(1)
        return float((pred == labels).mean()), pred, labels

    return run


@pytest.mark.parametrize("name", SHIPPED)
def test_privatetest_accuracy_matches_the_card(name, measure, fer_npz):
    acc, pred, labels = measure(name, "PrivateTest")
    assert len(labels) >= 1000
    card = json.loads(Settings().model_path(name).with_suffix(".json").read_text())
    claimed = card["evaluation"]["PrivateTest"]["accuracy"]
    print(f"{name}: PrivateTest accuracy {acc:.4f} on {len(labels)} faces (card: {claimed})")
    assert acc >= claimed - 0.01
    m = confusion(labels, pred)
    assert m.sum() == len(labels) and np.trace(m) == (pred == labels).sum()
    # the same predictions against the FER+ majority labels (the FER+ model's main figure)
    _, plus = load_split(fer_npz, "PrivateTest", ferplus=True)
    keep = plus >= 0
    acc_plus = float((pred[keep] == plus[keep]).mean())
    claimed_plus = card["evaluation"]["PrivateTest"]["ferplus_accuracy"]
    print(f"{name}: PrivateTest FER+ majority accuracy {acc_plus:.4f} on {keep.sum()} faces (card: {claimed_plus})")
    assert acc_plus >= claimed_plus - 0.01


def test_default_model_follows_the_70_percent_rule_on_measured_accuracy(measure):
    # The rule: a trained model becomes the default only with PrivateTest >= 70%; among those the
    # best on PublicTest. Otherwise mini-Xception stays the default. Applied here to accuracies
    # measured now on every face, not to the cards. (FERNet passed the bar on its third look at
    # PrivateTest, by 5 of 3,589 faces: see the selection caveat in models_onnx/fernet.md.)
    private = {name: measure(name, "PrivateTest")[0] for name in SHIPPED}
    eligible = [n for n in SHIPPED if n != "mini_xception" and private[n] >= 0.70]
    expected = max(eligible, key=lambda n: measure(n, "PublicTest")[0]) if eligible else "mini_xception"
    print(f"PrivateTest measured: {private}; eligible: {eligible}")
    assert Settings().face_model == expected
