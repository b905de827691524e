"""Draw face boxes and emotion labels on an image (OpenCV)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from ..labels import color_bgr
from .analyzer import FaceEmotion


def face_caption(face: FaceEmotion, number: int | None = None) -> str:
    """Caption drawn above a face, e.g. ``"#1 happy 87%"``; ``face`` is a :class:`FaceEmotion`
    or a :class:`~emotion.face.track.TrackedFace` (anything with ``label`` and ``score``)."""
    prefix = f"#{number} " if number is not None else ""
    return f"{prefix}{face.label} {face.score * 100:.0f}%"


def draw_faces(image: np.ndarray, faces: Sequence[FaceEmotion], numbered: bool = True, copy: bool = True) -> np.ndarray:
    """Boxes coloured by emotion with a caption per face, on a uint8 BGR [H, W, 3] image.

    Line width and text size follow the image size, so captions stay readable on
    large photos. ``numbered`` prefixes captions with ``#1, #2, ...`` in the order of
    ``faces``, or with each face's ``face_id`` for tracked faces. Returns the annotated image
    (a copy unless ``copy=False``).
    """
    out = image.copy() if copy else image
    h, w = out.shape[:2]
    thickness = max(2, round(min(h, w) / 300))
    font_scale = max(0.5, min(h, w) / 900)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for i, face in enumerate(faces, start=1):
        x, y, bw, bh = face.box
        color = color_bgr(face.label)
        cv2.rectangle(out, (x, y), (x + bw, y + bh), color, thickness, cv2.LINE_AA)
        text = face_caption(face, getattr(face, "face_id", i) if numbered else None)
        (tw, th), base = cv2.getTextSize(text, font, font_scale, max(1, thickness // 2))
        top = y - th - base - 2 * thickness
        if top < 0:  # no room above: put the caption inside the box
            top = y
        cv2.rectangle(out, (x, top), (x + tw + 2 * thickness, top + th + base + 2 * thickness), color, -1)
        cv2.putText(
            out, text, (x + thickness, top + th + thickness), font, font_scale, (0, 0, 0), max(1, thickness // 2), cv2.LINE_AA
        )
    return out
