"""Media files for the fake camera and microphone of the browser tests, made from real photos."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def face_scene(photo_bgr: np.ndarray, width: int = 640, height: int = 480) -> np.ndarray:
    """``photo_bgr`` scaled to fit ``height`` and centred on a grey width x height canvas (BGR uint8)."""
    scale = min(height / photo_bgr.shape[0], width / photo_bgr.shape[1])
    im = cv2.resize(photo_bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = np.full((height, width, 3), 128, np.uint8)
    y, x = (height - im.shape[0]) // 2, (width - im.shape[1]) // 2
    canvas[y : y + im.shape[0], x : x + im.shape[1]] = im
    return canvas


def write_y4m(path: Path, frames: list[np.ndarray], fps: int = 15) -> Path:
    """Write BGR uint8 frames (all the same even size) as an uncompressed YUV4MPEG2 (4:2:0) file,
    the format Chromium's ``--use-file-for-fake-video-capture`` reads."""
    h, w = frames[0].shape[:2]
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            f.write(b"FRAME\n")
            f.write(cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path
