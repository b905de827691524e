"""Draw face boxes and emotion labels on an image (OpenCV)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from ..display import face_label
from ..labels import color_bgr
from .ambiguity import top_two
from .analyzer import FaceEmotion


def face_words(face: FaceEmotion) -> str:
    """A face's emotion in words, without numbers: ``"happy"``, ``"sad or angry?"`` when its top
    two labels are a toss-up (:attr:`FaceEmotion.ambiguous`), or why it is not read
    (``"face turned away"``, ...)."""
    if not getattr(face, "readable", True):
        return face_label(None, face.status)
    if getattr(face, "ambiguous", False):
        (first, _), (second, _) = top_two(face.probabilities)
        return f"{first} or {second}?"
    return face.label


def face_caption(face: FaceEmotion, number: int | None = None) -> str:
    """Caption drawn above a face, e.g. ``"#1 happy 87%"``; ``"#3 sad or angry? 56% / 20%"`` when
    its top two labels are a toss-up (:attr:`FaceEmotion.ambiguous`); ``"#2 face turned away"``
    when its expression cannot be read. ``face`` is a :class:`FaceEmotion` or a
    :class:`~emotion.face.track.TrackedFace` (anything with ``label``, ``score`` and ``probabilities``)."""
    prefix = f"#{number} " if number is not None else ""
    words = face_words(face)
    if not getattr(face, "readable", True):
        return prefix + words
    if getattr(face, "ambiguous", False):
        (_, p1), (_, p2) = top_two(face.probabilities)
        return f"{prefix}{words} {p1 * 100:.0f}% / {p2 * 100:.0f}%"
    return f"{prefix}{words} {face.score * 100:.0f}%"


UNREADABLE_BGR = (170, 170, 170)
"""Box and caption colour of a face whose expression cannot be read (grey)."""


def face_color_bgr(face) -> tuple[int, int, int]:
    """The colour of a face's box: its emotion's, or grey when it cannot be read."""
    return color_bgr(face.label) if getattr(face, "readable", True) else UNREADABLE_BGR


Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 pixels


def _overlap(a: Rect, b: Rect) -> int:
    """Area (pixels²) shared by two rectangles."""
    return max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))


def place_captions(boxes: Sequence[Rect], sizes: Sequence[tuple[int, int]], width: int, height: int) -> list[Rect]:
    """Where to draw each face's caption so that captions do not cover each other or other faces.

    Args:
        boxes: each face's box as (x0, y0, x1, y1) pixels.
        sizes: each caption's (width, height) in pixels.
        width, height: the image's size in pixels.

    Returns:
        One rectangle (x0, y0, x1, y1) per face, in order. Rule: for each face in turn, the first
        of these places that stays inside the image and touches no other face's box and no
        caption placed before: above the box, below it, inside its top, inside its bottom; when
        none is free, the one that covers the least. Captions are shifted left to stay inside the
        image.
    """
    placed: list[Rect] = []
    for i, ((x0, y0, _, y1), (tw, th)) in enumerate(zip(boxes, sizes, strict=True)):
        left = max(0, min(x0, width - tw))
        candidates = [
            (left, y0 - th, left + tw, y0),  # above
            (left, y1, left + tw, y1 + th),  # below
            (left, y0, left + tw, y0 + th),  # inside, top
            (left, y1 - th, left + tw, y1),  # inside, bottom
        ]
        others = [b for j, b in enumerate(boxes) if j != i] + placed
        costs = [(int(r[1] < 0 or r[3] > height), sum(_overlap(r, o) for o in others), k) for k, r in enumerate(candidates)]
        placed.append(candidates[min(costs)[2]])
    return placed


def draw_faces(image: np.ndarray, faces: Sequence[FaceEmotion], numbered: bool = True, copy: bool = True) -> np.ndarray:
    """Boxes coloured by emotion with a caption per face, on a uint8 BGR [H, W, 3] image; a face
    whose expression cannot be read is boxed in grey with the reason.

    Line width and text size follow the image size, so captions stay readable on
    large photos. ``numbered`` prefixes captions with ``#1, #2, ...`` in the order of
    ``faces``, or with each face's ``face_id`` for tracked faces. Captions are placed by
    :func:`place_captions` (above the box when there is room, otherwise below or inside it), so
    the captions of nearby faces do not cover each other. Returns the annotated image (a copy
    unless ``copy=False``).
    """
    out = image.copy() if copy else image
    h, w = out.shape[:2]
    thickness = max(2, round(min(h, w) / 300))
    font_scale = max(0.5, min(h, w) / 900)
    font = cv2.FONT_HERSHEY_SIMPLEX
    texts, sizes, boxes = [], [], []
    for i, face in enumerate(faces, start=1):
        x, y, bw, bh = face.box
        text = face_caption(face, getattr(face, "face_id", i) if numbered else None)
        (tw, th), base = cv2.getTextSize(text, font, font_scale, max(1, thickness // 2))
        texts.append((text, th))
        sizes.append((tw + 2 * thickness, th + base + 2 * thickness))
        boxes.append((x, y, x + bw, y + bh))
    for face, (x0, y0, x1, y1) in zip(faces, boxes, strict=True):
        cv2.rectangle(out, (x0, y0), (x1, y1), face_color_bgr(face), thickness, cv2.LINE_AA)
    for face, (text, th), (cx0, cy0, cx1, cy1) in zip(faces, texts, place_captions(boxes, sizes, w, h), strict=True):
        cv2.rectangle(out, (cx0, cy0), (cx1, cy1), face_color_bgr(face), -1)
        cv2.putText(
            out, text, (cx0 + thickness, cy0 + th + thickness), font, font_scale, (0, 0, 0), max(1, thickness // 2), cv2.LINE_AA
        )
    return out
