"""Face emotion analysis of one image: detect -> crop -> classify (one batched call).

Example (no Streamlit needed)::

    import cv2
    from emotion import FaceEmotionAnalyzer
    faces = FaceEmotionAnalyzer().analyze(cv2.imread("photo.jpg"))
    for f in faces:
        print(f.box, f.label, f.score)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from ..config import Settings
from ..errors import InputError, ModelError
from ..frozen import FrozenResult
from ..labels import EMOTIONS, LabelledProbabilities
from ..schema import FaceStatus
from .ambiguity import AmbiguityRule
from .blazeface import BlazeFaceDetector
from .classify import FaceExpressionClassifier, crop_aligned_faces, eye_roll_degrees
from .detect import FaceDetections, HaarFaceDetector, to_gray
from .quality import FaceView, ReadabilityRule

FaceDetector = HaarFaceDetector | BlazeFaceDetector


def build_detector(settings: Settings) -> FaceDetector:
    """The face detector named by ``settings.face_detector``: ``haar`` (OpenCV cascade at
    ``settings.haar_cascade``) or the name of a BlazeFace ONNX model in ``settings.models_dir``
    (``blazeface_full_range``, ``blazeface_short_range``); its default detection copy is
    ``settings.live_detect_max_side`` pixels.

    Raises:
        ModelError: the name is unknown, or the model file is missing or corrupt.
    """
    name = settings.face_detector
    if name == "haar":
        return HaarFaceDetector(settings.haar_cascade, max_side=settings.live_detect_max_side)
    if not name.startswith("blazeface"):
        raise ModelError(f"unknown face detector {name!r}: use blazeface_full_range, blazeface_short_range or haar")
    return BlazeFaceDetector(settings.model_path(name), threads=settings.ort_threads, max_side=settings.live_detect_max_side)


@dataclass(frozen=True, eq=False)
class FaceEmotion(FrozenResult, LabelledProbabilities):
    """One face and its emotion.

    Attributes:
        box: (x, y, w, h) in pixels of the analysed image.
        probabilities: float32 (7,), FER2013 label order (:data:`emotion.labels.EMOTIONS`), sums to 1.
        detection_score: the detector's confidence that this is a face, 0..1 (BlazeFace's score;
            1 for Haar, which has none).
        view: its turn, size and sharpness, and why its expression cannot be read, if so
            (:class:`~emotion.face.quality.ReadabilityRule`); None when not judged.
        ambiguity: the model's :class:`~emotion.face.ambiguity.AmbiguityRule` (None: never
            ambiguous); :attr:`ambiguous` applies it.
    """

    box: tuple[int, int, int, int]
    probabilities: np.ndarray
    detection_score: float = 1.0
    view: FaceView | None = None
    ambiguity: AmbiguityRule | None = field(default=None, compare=False)

    @property
    def ambiguous(self) -> bool:
        """Whether the face is read but its top two labels are a toss-up (the model's
        :attr:`ambiguity` rule): the pages show both, fusion gives it less weight."""
        return self.readable and self.ambiguity is not None and self.ambiguity.is_ambiguous(self.probabilities)

    @property
    def readable(self) -> bool:
        """False when the face is too turned, small or blurred for its expression to be
        reported (:attr:`status` says which); its ``label`` is then not shown or fused."""
        return self.view is None or self.view.readable

    @property
    def status(self) -> FaceStatus:
        """:attr:`FaceStatus.READ <emotion.schema.FaceStatus.READ>`, or why the expression is not
        reported (turned away, too small, too blurred)."""
        return FaceStatus.READ if self.view is None else self.view.status

    @property
    def area(self) -> int:
        """Box area in square pixels."""
        return int(self.box[2] * self.box[3])

    def to_dict(self) -> dict:
        """JSON-ready dict: box, label, score and one probability per label; for a face whose
        expression cannot be read, ``label`` and ``score`` are None, ``face_status``
        (:class:`~emotion.schema.FaceStatus`) says why, and the probabilities are the model's
        output, kept for inspection."""
        return {
            "box": {"x": self.box[0], "y": self.box[1], "w": self.box[2], "h": self.box[3]},
            "label": self.label if self.readable else None,
            "score": round(self.score, 4) if self.readable else None,
            "face_status": self.status.value,
            "ambiguous": self.ambiguous,
            "probabilities": {e: round(float(p), 4) for e, p in zip(EMOTIONS, self.probabilities, strict=True)},
        }


def check_image(image: object) -> np.ndarray:
    """Validate an image array: uint8 [H, W], [H, W, 3] (BGR) or [H, W, 4] (BGRA).

    Raises:
        InputError: not a numpy array, wrong dtype or shape, or empty.
    """
    if not isinstance(image, np.ndarray):
        raise InputError(f"expected an image as a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise InputError(f"expected a uint8 image, got dtype {image.dtype}")
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))):
        raise InputError(f"expected an image of shape [H, W], [H, W, 3] or [H, W, 4], got {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise InputError("the image is empty (0 pixels)")
    return image


class FaceEmotionAnalyzer:
    """Detects every face in an image and classifies its emotion.

    Faces tilted in the image plane are turned upright (eyes level, from the detector's
    keypoints) before classification, since FER2013's training faces are upright. Each face
    is judged by ``rule`` (:class:`~emotion.face.quality.ReadabilityRule`; off with
    ``Settings.face_readability = False``): a face turned away, too small or too blurred is
    returned with :attr:`FaceEmotion.readable` False and the reason.

    One orchestrator over small model wrappers (the shape of InsightFace's
    ``FaceAnalysis``): a detector with ``detect(image, max_side) -> FaceDetections``
    (:func:`build_detector`: BlazeFace by default, Haar selectable) and a classifier with ``predict_crops(list[uint8 [s, s]]) -> float32 [n, 7]``.
    Build it once and reuse it: models are loaded in the constructor. Safe to
    share between threads.

    Raises:
        ModelError: (constructor) a model file is missing or corrupt.
    """

    def __init__(
        self,
        detector: FaceDetector | None = None,
        classifier: FaceExpressionClassifier | None = None,
        settings: Settings | None = None,
        rule: ReadabilityRule | None = None,
    ):
        settings = settings or Settings.from_env()
        self.settings = settings
        self.detector = detector or build_detector(settings)
        self.classifier = classifier or FaceExpressionClassifier(settings=settings)
        self.rule: ReadabilityRule | None = rule or (ReadabilityRule() if settings.face_readability else None)

    def analyze(self, image: np.ndarray, max_side: int | None = None) -> list[FaceEmotion]:
        """Faces and emotions in ``image`` (uint8 BGR [H, W, 3], BGRA or gray), largest face first.

        ``max_side``: longest side in pixels of the copy detection runs on (default: the
        detector's, ``Settings.live_detect_max_side``); larger finds smaller faces, slower.
        Use :meth:`analyze_photo` for photos.

        Raises:
            InputError: ``image`` is not a valid image array.
        """
        found, crops, views = self.find_faces(image, max_side=max_side)
        if len(found.boxes) == 0:
            return []
        probs = self.classifier.predict_crops(crops)
        return [
            FaceEmotion(tuple(int(v) for v in b), p, float(score), view, self.classifier.ambiguity)
            for b, p, score, view in zip(found.boxes, probs, found.scores, views, strict=True)
        ]

    def find_faces(
        self, image: np.ndarray, max_side: int | None = None
    ) -> tuple[FaceDetections, list[np.ndarray], list[FaceView | None]]:
        """The steps of :meth:`analyze` before the classifier: the detections, each face's upright
        grayscale crop (uint8 [s, s], s in pixels) and its view by :attr:`rule` (None with the rule
        off), in the detector's order. Evaluation scripts (``training/calibrate_face.py``) use it to
        read faces exactly as the app does.

        Raises:
            InputError: ``image`` is not a valid image array.
        """
        image = check_image(image)
        found = self.detector.detect(image, max_side=max_side)
        if len(found.boxes) == 0:
            return found, [], []
        crops = crop_aligned_faces(to_gray(image), found.boxes, eye_roll_degrees(found.keypoints))
        views = self.rule.assess(found.boxes, found.keypoints, crops) if self.rule is not None else [None] * len(crops)
        return found, list(crops), views

    def analyze_photo(self, image: np.ndarray) -> list[FaceEmotion]:
        """:meth:`analyze` with detection on a larger copy (``Settings.photo_detect_max_side``),
        so small faces in large photos are found.

        Close-ups: BlazeFace finds no face that fills nearly the whole frame (measured on the
        astronaut photo cut ever closer: found while the face's box is up to 0.8 of the frame's
        side, not from 0.95 on). When nothing is found, the photo (shrunk to
        ``photo_detect_max_side`` first) is searched again inside a border of
        :data:`CLOSE_UP_BORDER` times its side on every side (edge pixels repeated): the face
        then fills about half the frame and is found, its box and its crop covering the whole
        face even where it leaves the photo. Only close-ups are taken from that second search
        (:data:`CLOSE_UP_MIN_SIDE`). Returned boxes are cut to the photo.
        """
        image = check_image(image)
        faces = self.analyze(image, max_side=self.settings.photo_detect_max_side)
        if faces:
            return faces
        h, w = image.shape[:2]
        if min(h, w) < CLOSE_UP_MIN_PHOTO_SIDE:
            return []
        scale = min(1.0, self.settings.photo_detect_max_side / max(h, w))
        small = image
        if scale < 1.0:  # explicit sizes: a long thin strip must not shrink to 0 pixels
            small = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        sx, sy = small.shape[1] / w, small.shape[0] / h
        pad = max(1, round(CLOSE_UP_BORDER * max(small.shape[:2])))
        framed = cv2.copyMakeBorder(small, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        found = self.analyze(framed, max_side=max(framed.shape[:2]))
        close_ups = [f for f in found if max(f.box[2], f.box[3]) >= CLOSE_UP_MIN_SIDE * min(small.shape[:2])]
        return [
            replace(f, box=_inside((f.box[0] - pad) / sx, (f.box[1] - pad) / sy, f.box[2] / sx, f.box[3] / sy, w, h))
            for f in close_ups
        ]


CLOSE_UP_BORDER = 0.5
"""Border added on each side of a photo with no face found, as a fraction of its longer side
(:meth:`FaceEmotionAnalyzer.analyze_photo`): a face 1.6 times the frame's side was still found."""
CLOSE_UP_MIN_PHOTO_SIDE = 32
"""Photos whose shorter side is under this many pixels get no second search (no readable close-up
fits: the readability rule wants a face of 20 px or more)."""
CLOSE_UP_MIN_SIDE = 0.6
"""A face found only inside that border is kept when its box's side is at least this fraction of
the photo's shorter side (a close-up): smaller boxes found there were all false (scikit-image's
coins and Hubble deep field gave 6 without this, none with it)."""


def _inside(x: float, y: float, w: float, h: float, width: int, height: int) -> tuple[int, int, int, int]:
    """The box (x, y, w, h) in pixels cut to a ``width`` x ``height`` image, as ints."""
    x0, y0 = max(0, int(round(x))), max(0, int(round(y)))
    x1, y1 = min(width, int(round(x + w))), min(height, int(round(y + h)))
    return x0, y0, max(1, x1 - x0), max(1, y1 - y0)


def faces_report(faces: list[FaceEmotion], width: int, height: int, source: str, model: str) -> dict:
    """JSON-ready results of one image: its name and size (pixels), the model, and every face."""
    return {
        "source": source,
        "image": {"width": int(width), "height": int(height)},
        "model": model,
        "labels": list(EMOTIONS),
        "faces": [dict(id=i, **f.to_dict()) for i, f in enumerate(faces, start=1)],
    }
