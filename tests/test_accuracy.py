"""Accuracy of the shipped default face-expression model on FER2013 PrivateTest."""

import json

import numpy as np

from emotion.config import Settings
from training.evaluate_face import confusion, load_split, predict


def test_privatetest_accuracy_of_shipped_model(analyzer, fer_npz):
    faces, labels = load_split(fer_npz, "PrivateTest", limit=1200, seed=0)
    assert len(faces) == 1200
    pred = predict(analyzer.classifier, faces).argmax(1)
    acc = float((pred == labels).mean())
    card = json.loads(Settings().model_path("mini_xception").with_suffix(".json").read_text())
    print(f"PrivateTest accuracy on 1200 faces: {acc:.4f} (card, all 3589: {card['evaluation']['PrivateTest']['accuracy']})")
    assert acc >= 0.63
    m = confusion(labels, pred)
    assert m.sum() == 1200 and np.trace(m) == (pred == labels).sum()
