"""Can the expression of a detected face be read? Turn, size and sharpness of a face.

The face-expression models were trained on FER2013: frontal-ish faces, upright, 48x48
pixels, mostly in focus. A face that is turned far away from the camera, too small or too
blurred gives a label that is not much better than a guess, stated with confidence. Such a
face is kept (boxed, counted) but marked *unreadable*, with the reason, and its label is
not reported (:attr:`emotion.face.analyzer.FaceEmotion.readable`).

The three measures and the thresholds of :class:`ReadabilityRule` were calibrated on FER2013
PublicTest through the app's own detector and crop, and checked on CMU Face Images turned
faces (``training/evaluate_face_app.py calibrate`` / ``external``; figures in
``models_onnx/fernet.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from ..schema import FaceStatus

TURN_NOSE_DEPTH = 0.47
"""Nose-tip depth in front of the eyes over the distance between the eyes, for the rough
yaw of :func:`yaw_degrees` (anthropometric means: ~3 cm depth over ~6.3 cm interpupillary
distance, Farkas 1994)."""


def turn_ratio(keypoints: np.ndarray) -> np.ndarray:
    """How far each face is turned left or right (yaw), from BlazeFace keypoints float
    [n, k >= 3, 2] (eyes first, then the nose tip; pixels).

    The horizontal distance of the nose tip from the midpoint between the eyes, divided by
    the distance between the eyes, measured in the face's own frame (eye line level, so a
    tilted head does not count as turned). About 0 for a frontal face; it grows as the face
    turns (the eyes close up in the image while the nose moves sideways), roughly
    ``0.47 * tan(yaw)``: 0.27 at 30 degrees, 0.47 at 45, 0.8 at 60, and past 1 in profile.
    Returns float [n] (zeros when there are fewer than 3 keypoints, e.g. Haar).
    """
    keypoints = np.asarray(keypoints, np.float64)
    if keypoints.ndim != 3 or keypoints.shape[1] < 3:
        return np.zeros(len(keypoints))
    left, right, nose = keypoints[:, 0], keypoints[:, 1], keypoints[:, 2]
    eye_line = right - left
    eye_distance = np.linalg.norm(eye_line, axis=1)
    unit = eye_line / np.maximum(eye_distance, 1e-6)[:, None]
    offset = np.abs(((nose - (left + right) / 2) * unit).sum(1))
    return offset / np.maximum(eye_distance, 1e-6)


def yaw_degrees(ratio: np.ndarray | float) -> np.ndarray:
    """Rough yaw in degrees (0 frontal, 90 profile) from :func:`turn_ratio`, assuming a
    nose depth of :data:`TURN_NOSE_DEPTH` eye distances (weak perspective)."""
    return np.degrees(np.arctan(np.asarray(ratio, np.float64) / TURN_NOSE_DEPTH))


def sharpness(crops: Sequence[np.ndarray], side: int = 48) -> np.ndarray:
    """Sharpness of grayscale face crops (uint8 [s, s]): the variance of the Laplacian
    (Pech-Pacheco et al. 2000) of each crop resized to ``side`` x ``side`` pixels (the
    classifier's input), so that it compares faces of any size. Returns float [n]; low
    means blurred or flat."""
    out = np.empty(len(crops))
    for i, crop in enumerate(crops):
        small = crop if crop.shape[:2] == (side, side) else cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA)
        out[i] = cv2.Laplacian(small, cv2.CV_64F).var()
    return out


@dataclass(frozen=True)
class FaceView:
    """How one detected face looks to the classifier.

    Attributes:
        side_px: the face box's longer side, in pixels of the analysed image.
        turn: :func:`turn_ratio` (0 frontal; NaN when the detector gives no keypoints).
        sharpness: :func:`sharpness` of the crop.
        status: :attr:`FaceStatus.READ`, or why the expression cannot be read (turned away,
            too small, too blurred).
    """

    side_px: float
    turn: float
    sharpness: float
    status: FaceStatus = FaceStatus.READ

    @property
    def readable(self) -> bool:
        return self.status is FaceStatus.READ


@dataclass(frozen=True)
class ReadabilityRule:
    """When a face's expression is not reported. Checked in this order:

    - turned away: ``turn`` above ``max_turn`` (about 60 degrees of yaw: on FER2013
      PublicTest through the app's crop, FERNet reads 70% of faces under 0.1 and 50% of
      those over 0.8);
    - too small: box side under ``min_side_px`` pixels (PublicTest faces shrunk to 20 px:
      49.6% right, against 69.3% at their full 48 px);
    - too blurred: ``sharpness`` under ``min_sharpness`` (PublicTest faces blurred: 45.8%
      right with sharpness 40-80, 55.1% with 80-160; 0.1% of unblurred faces found by the
      detector are under 80). Flat, low-contrast faces (very dark) count as blurred too.

    Each threshold is where FERNet's accuracy falls to about 50% (from 69% on all faces),
    measured by ``training/evaluate_face_app.py calibrate`` on PublicTest only.
    """

    max_turn: float = 0.8
    min_side_px: float = 20.0
    min_sharpness: float = 80.0

    def judge(self, side_px: float, turn: float, sharpness_: float) -> FaceView:
        status = FaceStatus.READ
        if np.isfinite(turn) and turn > self.max_turn:
            status = FaceStatus.TURNED_AWAY
        elif side_px < self.min_side_px:
            status = FaceStatus.TOO_SMALL
        elif sharpness_ < self.min_sharpness:
            status = FaceStatus.TOO_BLURRED
        return FaceView(float(side_px), float(turn), float(sharpness_), status)

    def assess(self, boxes: np.ndarray, keypoints: np.ndarray, crops: Sequence[np.ndarray]) -> list[FaceView]:
        """One :class:`FaceView` per face: boxes int [n, 4] (x, y, w, h px), keypoints float
        [n, k, 2] (k = 0 for Haar: turn unknown, never "turned away"), crops uint8 [s, s]."""
        turns = turn_ratio(keypoints) if keypoints.ndim == 3 and keypoints.shape[1] >= 3 else np.full(len(boxes), np.nan)
        sharp = sharpness(crops)
        return [self.judge(float(max(b[2], b[3])), float(t), float(s)) for b, t, s in zip(boxes, turns, sharp, strict=True)]
