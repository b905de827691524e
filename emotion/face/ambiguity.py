"""When is a face's label a toss-up? The ambiguity rule of the face-expression model.

A face model trained on FER2013 often hesitates between two labels (surprise and fear, angry
and sad, disgust and angry). Showing only the top label then states a guess as a finding. A
face is *ambiguous* when its (calibrated) top probability is below ``top_below`` or when the
top two are closer than ``margin_below``; the pages then show both labels, e.g.
``"sad or angry? 56% / 20%"``, and fusion gives the face a reduced weight
(:data:`emotion.fusion.AMBIGUOUS_FACE_WEIGHT`).

The thresholds belong to a model: they are chosen on FER2013 PublicTest through the app's own
detector and crop (``training/calibrate_face.py``), as the values below which the faces are
right about half the time, and stored in the model's card (``ambiguity``), which
:class:`~emotion.face.classify.FaceExpressionClassifier` reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..labels import EMOTIONS, NUM_EMOTIONS


@dataclass(frozen=True)
class AmbiguityRule:
    """Ambiguous when ``top < top_below`` or ``top - second < margin_below`` (probabilities
    in 0..1 of one face, after the model's calibration). ``AmbiguityRule(0, 0)`` never fires."""

    top_below: float = 0.0
    margin_below: float = 0.0

    @classmethod
    def from_card(cls, card: Mapping) -> AmbiguityRule:
        """The rule stored in a model card's ``ambiguity`` (no rule: one that never fires).

        Raises:
            ValueError: a threshold outside 0..1.
        """
        a = card.get("ambiguity") or {}
        rule = cls(float(a.get("top_below", 0.0)), float(a.get("margin_below", 0.0)))
        if not (0.0 <= rule.top_below <= 1.0 and 0.0 <= rule.margin_below <= 1.0):
            raise ValueError(f"ambiguity thresholds must be in 0..1, got {rule}")
        return rule

    def is_ambiguous(self, probabilities: np.ndarray | None) -> bool:
        """Whether one face's probabilities (7,) are ambiguous (False for None)."""
        if probabilities is None:
            return False
        top, second = top_two(probabilities)
        return top[1] < self.top_below or top[1] - second[1] < self.margin_below


def top_two(probabilities: np.ndarray) -> tuple[tuple[str, float], tuple[str, float]]:
    """The two most probable labels of a probability vector (7,) with their probabilities,
    most probable first (ties: the earlier label in :data:`~emotion.labels.EMOTIONS`)."""
    p = np.asarray(probabilities, dtype=np.float64).reshape(NUM_EMOTIONS)
    order = np.argsort(-p, kind="stable")
    return (EMOTIONS[order[0]], float(p[order[0]])), (EMOTIONS[order[1]], float(p[order[1]]))
