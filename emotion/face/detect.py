"""Face detection results, and the Haar-cascade detector (Viola-Jones; cascade by
R. Lienhart, ``haarcascade_frontalface_default.xml`` from OpenCV, Intel licence).

Detection runs on a downscaled grayscale copy (longest side at most
``max_side`` pixels); boxes are mapped back to the input's pixels. The default
detector is BlazeFace (:mod:`emotion.face.blazeface`); Haar stays selectable
(``EMOTION_FACE_DETECTOR=haar``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import ModelError


def to_gray(image: np.ndarray) -> np.ndarray:
    """uint8 [H, W] grayscale of a uint8 BGR [H, W, 3], BGRA [H, W, 4] or gray [H, W] image."""
    if image.ndim == 2:
        return image
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


@dataclass(frozen=True)
class FaceDetections:
    """Faces found in one image.

    Attributes:
        boxes: int32 [n, 4] (x, y, w, h) in pixels of the image, largest first.
        scores: float32 [n] detector confidence in [0, 1] (1 for Haar, which has none).
        keypoints: float32 [n, k, 2] (x, y) pixels: BlazeFace's 6 keypoints (eyes, nose tip,
            mouth centre, ears); k = 0 for Haar.
    """

    boxes: np.ndarray
    scores: np.ndarray
    keypoints: np.ndarray

    def __len__(self) -> int:
        return len(self.boxes)

    @classmethod
    def empty(cls, keypoints: int = 0) -> FaceDetections:
        return cls(np.zeros((0, 4), np.int32), np.zeros(0, np.float32), np.zeros((0, keypoints, 2), np.float32))


class HaarFaceDetector:
    """Frontal-face detector over OpenCV's ``CascadeClassifier``.

    Args:
        cascade_path: the cascade XML file.
        max_side: longest side, in pixels, of the copy detection runs on.
        scale_factor: ``detectMultiScale``'s scale step between image pyramid levels.
        min_neighbors: ``detectMultiScale``'s neighbours a candidate needs to be kept.
        min_size: smallest face side in pixels *of the detection copy*.

    Raises:
        ModelError: the cascade file is missing or not a cascade.

    Thread-safe: each thread gets its own ``CascadeClassifier`` (OpenCV's is not
    documented as safe to share across threads).
    """

    def __init__(
        self,
        cascade_path: Path,
        max_side: int = 320,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        min_size: int = 24,
    ):
        self.cascade_path = Path(cascade_path)
        self.max_side = int(max_side)
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size = min_size
        self._local = threading.local()
        self._cascade()  # fail now, not on the first frame

    def _cascade(self) -> cv2.CascadeClassifier:
        cascade = getattr(self._local, "cascade", None)
        if cascade is None:
            if not self.cascade_path.is_file():
                raise ModelError(f"face detector file not found: {self.cascade_path}")
            cascade = cv2.CascadeClassifier(str(self.cascade_path))
            if cascade.empty():
                raise ModelError(f"face detector file is not a valid Haar cascade: {self.cascade_path}")
            self._local.cascade = cascade
        return cascade

    @property
    def name(self) -> str:
        return f"Haar cascade ({self.cascade_path.name})"

    def detect(self, image: np.ndarray, max_side: int | None = None) -> FaceDetections:
        """Faces in a uint8 image (BGR [H, W, 3], BGRA [H, W, 4] or gray [H, W]).

        ``max_side`` overrides the detection copy's longest side (pixels) for this call.
        Returns boxes in pixels of ``image``, largest first (scores 1, no keypoints).
        """
        gray = to_gray(image)
        h, w = gray.shape[:2]
        scale = min(1.0, (max_side or self.max_side) / max(h, w))
        small = gray if scale == 1.0 else cv2.resize(gray, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        found = self._cascade().detectMultiScale(
            small, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, minSize=(self.min_size, self.min_size)
        )
        boxes = np.asarray(found, dtype=np.float64).reshape(-1, 4)
        if scale != 1.0:
            boxes /= scale
        boxes = np.round(boxes).astype(np.int32)
        # clip to the image
        boxes[:, 0] = np.clip(boxes[:, 0], 0, w - 1)
        boxes[:, 1] = np.clip(boxes[:, 1], 0, h - 1)
        boxes[:, 2] = np.minimum(boxes[:, 2], w - boxes[:, 0])
        boxes[:, 3] = np.minimum(boxes[:, 3], h - boxes[:, 1])
        order = np.argsort(-(boxes[:, 2] * boxes[:, 3]), kind="stable")
        return FaceDetections(boxes[order], np.ones(len(boxes), np.float32), np.zeros((len(boxes), 0, 2), np.float32))
