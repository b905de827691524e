"""The seven emotion labels shared by every modality, and their colours.

Order is FER2013's (Goodfellow et al. 2013): every probability vector in this
package is a float array of shape ``(7,)`` in this order.
"""

from __future__ import annotations

import numpy as np

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
"""Label names, index-aligned with every probability vector."""

NUM_EMOTIONS = len(EMOTIONS)

COLORS_HEX: dict[str, str] = {
    "angry": "#d62728",
    "disgust": "#8c564b",
    "fear": "#9467bd",
    "happy": "#f2b701",
    "sad": "#1f77b4",
    "surprise": "#ff7f0e",
    "neutral": "#7f7f7f",
}
"""One colour per label (hex RGB), used by charts, boxes and the legend."""


def color_bgr(label: str) -> tuple[int, int, int]:
    """The colour of ``label`` as an OpenCV BGR tuple of ints in 0..255.

    Raises:
        KeyError: ``label`` is not one of :data:`EMOTIONS`.
    """
    h = COLORS_HEX[label].lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return (b, g, r)


def index(label: str) -> int:
    """Position of ``label`` in :data:`EMOTIONS`.

    Raises:
        ValueError: ``label`` is not one of :data:`EMOTIONS`.
    """
    return EMOTIONS.index(label)


RAVDESS_TO_EMOTION: dict[int, str] = {
    1: "neutral",
    2: "neutral",  # calm: RAVDESS's eighth class has no FER2013 counterpart; mapped to neutral
    3: "happy",
    4: "sad",
    5: "angry",
    6: "fear",
    7: "disgust",
    8: "surprise",
}
"""RAVDESS emotion code (file name field 3, 01..08) -> app label (Livingstone & Russo 2018)."""

EMOVO_TO_EMOTION: dict[str, str] = {
    "rab": "angry",  # rabbia
    "dis": "disgust",  # disgusto
    "pau": "fear",  # paura
    "gio": "happy",  # gioia
    "tri": "sad",  # tristezza
    "sor": "surprise",  # sorpresa
    "neu": "neutral",
}
"""EMOVO emotion code (file name ``EMO-SPK-SENT``, first field; Costantini et al. 2014) -> app label."""

URDU_TO_EMOTION: dict[str, str] = {"Angry": "angry", "Happy": "happy", "Sad": "sad", "Neutral": "neutral"}
"""URDU folder name (Latif et al. 2018) -> app label."""

TUREV_TO_EMOTION: dict[str, str] = {"Angry": "angry", "Happy": "happy", "Sad": "sad", "Calm": "neutral"}
"""TurEV-DB folder name (Canpolat et al. 2020) -> app label; calm, the corpus's low-arousal
non-emotional class, is mapped to neutral as RAVDESS's calm is."""

EKMAN_TO_EMOTION: dict[str, str] = {
    "anger": "angry",
    "disgust": "disgust",
    "fear": "fear",
    "joy": "happy",
    "neutral": "neutral",
    "sadness": "sad",
    "surprise": "surprise",
}
"""Ekman label names used by MELD and GoEmotions-Ekman -> app label."""


def from_ravdess(code: int) -> str:
    """App label of a RAVDESS emotion code 1..8 (calm -> neutral).

    Raises:
        KeyError: ``code`` is not 1..8.
    """
    return RAVDESS_TO_EMOTION[int(code)]


def from_ekman(name: str) -> str:
    """App label of an Ekman label name (MELD, GoEmotions-Ekman), case-insensitive.

    Raises:
        KeyError: not one of the seven Ekman names.
    """
    return EKMAN_TO_EMOTION[name.strip().lower()]


FERPLUS_COLUMNS: tuple[str, ...] = (
    "neutral",
    "happiness",
    "surprise",
    "sadness",
    "anger",
    "disgust",
    "fear",
    "contempt",
    "unknown",
    "NF",
)
"""The FER+ vote columns (Barsoum et al. 2016, microsoft/FERPlus), in the order of its label files."""

FERPLUS_TO_FER2013: tuple[int, ...] = (6, 3, 5, 4, 0, 1, 2)
"""Index in :data:`EMOTIONS` of each of the first seven FER+ columns (contempt, unknown and
NF, "not a face", have none)."""


def ferplus_distribution(votes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """FER+ votes uint8 [n, 10] (:data:`FERPLUS_COLUMNS`) -> (probabilities float32 [n, 7] in
    :data:`EMOTIONS` order, valid bool [n]: at least one vote for one of the 7 emotions).
    Rows that are not valid are all zero."""
    votes = np.asarray(votes)
    dist = np.zeros((len(votes), NUM_EMOTIONS), np.float32)
    dist[:, list(FERPLUS_TO_FER2013)] = votes[:, : len(FERPLUS_TO_FER2013)].astype(np.float32)
    total = dist.sum(1, keepdims=True)
    valid = total[:, 0] > 0
    dist[valid] /= total[valid]
    return dist, valid


def ferplus_majority(votes: np.ndarray) -> np.ndarray:
    """FER+ majority label int64 [n] in :data:`EMOTIONS` order from votes uint8 [n, 10], or -1
    where the most-voted column is contempt, unknown or not-a-face, or there are no votes (the
    FER+ "majority" scheme)."""
    votes = np.asarray(votes)
    top = votes.argmax(1)
    out = np.full(len(votes), -1, np.int64)
    ok = (top < len(FERPLUS_TO_FER2013)) & (votes.sum(1) > 0)
    out[ok] = np.asarray(FERPLUS_TO_FER2013)[top[ok]]
    return out


class LabelledProbabilities:
    """Mixin for results holding ``probabilities`` (float (7,), :data:`EMOTIONS` order):
    the most probable label and its probability."""

    probabilities: object

    @property
    def label(self) -> str:
        """The most probable emotion."""
        return EMOTIONS[int(np.argmax(self.probabilities))]

    @property
    def score(self) -> float:
        """Probability of :attr:`label`, in 0..1."""
        return float(np.max(self.probabilities))
