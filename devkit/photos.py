"""Synthetic composites of real faces with known face boxes, for measuring face detectors
(tests, bench, evaluation).

Every face is one of two real people, from photographs shipped with scikit-image
(``skimage.data``, offline): the astronaut (Eileen Collins, NASA, public domain) and the
camera operator (CC0), each face boxed by hand. Of the 13 faces of :func:`photos_with_faces`,
2 are those photographs unedited; 3 are the astronaut photo rotated (15, -30, 45 degrees);
3 are the astronaut's head shrunk (40, 30, 24 px faces) and pasted through a soft elliptical
mask onto the rocket photo; 5 are heads of both people, shrunk (50-110 px) and some rotated,
pasted onto the coffee photo (the group scene). No photograph of several real people is
among them. The face-free photographs (coffee, rocket, brick, grass, gravel, a cat, coins,
...) are real and unedited.

Requires scikit-image (a test/dev dependency; the app does not need it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from emotion.face.track import iou

# Hand-drawn face boxes (x, y, w, h) in pixels of the original skimage photos: forehead to
# chin, ear to ear.
ASTRONAUT_FACE = (175, 68, 100, 100)
CAMERA_FACE = (200, 120, 75, 75)

FACE_FREE = (
    "coffee",
    "rocket",
    "brick",
    "grass",
    "gravel",
    "chelsea",
    "coins",
    "hubble_deep_field",
    "clock",
    "stereo_motorcycle",
    "page",
    "moon",
)


@dataclass
class TestPhoto:
    """One photo (uint8 BGR [H, W, 3]) and its face boxes (int [n, 4] x, y, w, h pixels)."""

    name: str
    image: np.ndarray
    faces: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.int32))
    kind: str = "frontal"


def _bgr(name: str) -> np.ndarray:
    from skimage import data

    img = getattr(data, name)()
    if isinstance(img, tuple):  # stereo pairs
        img = img[0]
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_RGBA2BGR)
    return cv2.cvtColor(img, cv2.COLOR_RGB2BGR)


def _rotate(image: np.ndarray, box: tuple[int, int, int, int], degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """``image`` rotated about its centre (canvas grown to keep every pixel) and the face
    box moved with it (same size, new centre)."""
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(h * sin + w * cos), int(h * cos + w * sin)
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    out = cv2.warpAffine(image, m, (nw, nh), borderMode=cv2.BORDER_REFLECT)
    x, y, bw, bh = box
    cx, cy = m @ np.array([x + bw / 2, y + bh / 2, 1.0])
    return out, np.array([[round(cx - bw / 2), round(cy - bh / 2), bw, bh]], np.int32)


def _paste(canvas: np.ndarray, patch: np.ndarray, x: int, y: int) -> None:
    """Blend ``patch`` into ``canvas`` at (x, y) through a soft elliptical mask."""
    ph, pw = patch.shape[:2]
    mask = np.zeros((ph, pw), np.float32)
    cv2.ellipse(mask, (pw // 2, ph // 2), (int(pw * 0.48), int(ph * 0.48)), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, pw / 30))[..., None]
    region = canvas[y : y + ph, x : x + pw].astype(np.float32)
    canvas[y : y + ph, x : x + pw] = (mask * patch + (1 - mask) * region).astype(np.uint8)


def _head(image: np.ndarray, box: tuple[int, int, int, int], margin: float = 0.6) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A square patch around a face box with ``margin`` of the side on each side (hair, neck),
    and the face box inside the patch."""
    x, y, w, h = box
    m = int(w * margin)
    x0, y0 = max(0, x - m), max(0, y - m)
    patch = image[y0 : y + h + m, x0 : x + w + m]
    return patch, (x - x0, y - y0, w, h)


def group_scene(size: tuple[int, int] = (960, 640), seed: int = 0) -> TestPhoto:
    """Several faces of different sizes and tilts (astronaut and camera operator heads) pasted
    onto the coffee photo, no two overlapping."""
    rng = np.random.default_rng(seed)
    w, h = size
    canvas = cv2.resize(_bgr("coffee"), (w, h), interpolation=cv2.INTER_AREA)
    heads = [_head(_bgr("astronaut"), ASTRONAUT_FACE), _head(_bgr("camera"), CAMERA_FACE)]
    faces: list[list[int]] = []
    taken: list[tuple[int, int, int, int]] = []
    specs = [(0, 110, 0), (1, 90, 10), (0, 70, -20), (1, 60, 0), (0, 50, 15), (0, 130, 25)]
    for which, face_side, tilt in specs:
        patch, (fx, fy, fw, fh) = heads[which]
        scale = face_side / fw
        patch = cv2.resize(patch, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        fx, fy, fw = round(fx * scale), round(fy * scale), round(fw * scale)
        if tilt:
            patch, fbox = _rotate(patch, (fx, fy, fw, fw), tilt)
            fx, fy = int(fbox[0, 0]), int(fbox[0, 1])
        ph, pw = patch.shape[:2]
        for _ in range(200):
            x, y = int(rng.integers(0, w - pw)), int(rng.integers(0, h - ph))
            if all(x + pw <= tx or tx + tw <= x or y + ph <= ty or ty + th <= y for tx, ty, tw, th in taken):
                break
        else:
            continue
        taken.append((x, y, pw, ph))
        _paste(canvas, patch, x, y)
        faces.append([x + fx, y + fy, fw, fw])
    return TestPhoto("group scene", canvas, np.asarray(faces, np.int32), kind="several")


def photos_with_faces() -> list[TestPhoto]:
    """The face photos: frontal, tilted (15-45 degrees), small (24-40 px faces in a
    640x480 frame), turned (camera operator) and a group scene."""
    astro, camera = _bgr("astronaut"), _bgr("camera")
    out = [
        TestPhoto("astronaut", astro, np.array([ASTRONAUT_FACE], np.int32)),
        TestPhoto("camera operator (turned)", camera, np.array([CAMERA_FACE], np.int32), kind="turned"),
    ]
    for deg in (15, -30, 45):
        img, box = _rotate(astro, ASTRONAUT_FACE, deg)
        out.append(TestPhoto(f"astronaut tilted {deg} deg", img, box, kind="tilted"))
    background = cv2.resize(_bgr("rocket"), (640, 480), interpolation=cv2.INTER_AREA)
    patch, (fx, fy, fw, _) = _head(astro, ASTRONAUT_FACE)
    for side in (40, 30, 24):
        scale = side / fw
        small = cv2.resize(patch, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        frame = background.copy()
        x, y = 80, 300
        _paste(frame, small, x, y)
        box = np.array([[x + round(fx * scale), y + round(fy * scale), side, side]], np.int32)
        out.append(TestPhoto(f"small face {side} px in 640x480", frame, box, kind="small"))
    out.append(group_scene())
    return out


def face_free_photos() -> list[TestPhoto]:
    """Real photos without a human face (the cat counts as face-free)."""
    return [TestPhoto(name, _bgr(name), kind="face-free") for name in FACE_FREE]


def match(detected: np.ndarray, truth: np.ndarray, min_iou: float = 0.3) -> tuple[int, int]:
    """(true positives, false positives): a true face is found when a detection overlaps it
    with IoU >= ``min_iou`` (greedy, one detection per face); other detections are false."""
    used = set()
    found = 0
    for t in truth:
        best, best_iou = None, min_iou
        for i, d in enumerate(detected):
            if i in used:
                continue
            overlap = iou(d, t)
            if overlap >= best_iou:
                best, best_iou = i, overlap
        if best is not None:
            used.add(best)
            found += 1
    return found, len(detected) - len(used)
