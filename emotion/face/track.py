"""Face tracking across video frames: stable face IDs and per-face temporal smoothing.

Assignment: detections are matched to tracks by the Hungarian algorithm
(``scipy.optimize.linear_sum_assignment``) on ``1 − IoU`` of the boxes; a pair is accepted
when its IoU is at least ``iou_threshold``, or, for fast motion, when the centres are closer
than ``centre_gate`` times the track's box side. Unmatched detections start new IDs;
tracks unseen for ``max_age_s`` seconds end.

Smoothing: each track's probabilities follow an exponential moving average with time
constant ``smoothing_s`` (``alpha = 1 − exp(−Δt / smoothing_s)``), so the smoothing is the
same at any frame rate and one odd frame cannot flip a label.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..frozen import FrozenResult
from ..labels import LabelledProbabilities
from ..schema import FaceStatus
from .analyzer import FaceEmotion


@dataclass(frozen=True, eq=False)
class TrackedFace(FrozenResult, LabelledProbabilities):
    """A face with its track.

    Attributes:
        face_id: stable integer ID (1, 2, …) for as long as the face is tracked.
        box: (x, y, w, h) pixels, this frame's detection.
        probabilities: float32 (7,), smoothed over time, :data:`emotion.labels.EMOTIONS` order.
        raw: this frame's unsmoothed :class:`FaceEmotion`.
        hits: frames in which the track has been detected so far (this one included).
        mean_score: mean detector score (:attr:`FaceEmotion.detection_score`) over those frames.
    """

    face_id: int
    box: tuple[int, int, int, int]
    probabilities: np.ndarray
    raw: FaceEmotion
    hits: int = 1
    mean_score: float = 1.0

    @property
    def readable(self) -> bool:
        """Whether this frame's face can be read (:attr:`FaceEmotion.readable`)."""
        return self.raw.readable

    @property
    def status(self) -> FaceStatus:
        """Whether this frame's face was read (:attr:`FaceEmotion.status`)."""
        return self.raw.status

    @property
    def ambiguous(self) -> bool:
        """Whether the smoothed probabilities are a toss-up between the top two labels, by the
        model's rule (:attr:`FaceEmotion.ambiguity`); False when this frame's face is not read."""
        rule = self.raw.ambiguity
        return self.readable and rule is not None and rule.is_ambiguous(self.probabilities)

    def looks_like_a_face(self, min_hits: int, min_score: float) -> bool:
        """Whether the track is confirmed: seen in at least ``min_hits`` frames with a mean
        detector score of at least ``min_score``."""
        return self.hits >= min_hits and self.mean_score >= min_score

    @property
    def area(self) -> int:
        return int(self.box[2] * self.box[3])


@dataclass
class _Track:
    face_id: int
    box: tuple[int, int, int, int]
    probabilities: np.ndarray
    last_seen: float
    hits: int = 1
    score_sum: float = 0.0
    read: bool = True


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


class FaceTracker:
    """Stable IDs and smoothed probabilities for the faces of one video stream.

    Args:
        iou_threshold: minimum IoU to continue a track.
        centre_gate: alternatively, maximum centre distance as a fraction of the track's box side.
        max_age_s: a track unseen for longer ends (its ID is not reused).
        smoothing_s: time constant of the probability smoothing, seconds.

    Not thread-safe: one tracker per stream, updated from one thread.
    """

    def __init__(self, iou_threshold: float = 0.3, centre_gate: float = 0.5, max_age_s: float = 1.0, smoothing_s: float = 0.5):
        self.iou_threshold = iou_threshold
        self.centre_gate = centre_gate
        self.max_age_s = max_age_s
        self.smoothing_s = smoothing_s
        self._tracks: list[_Track] = []
        self._next_id = 1

    def reset(self) -> None:
        """Forget every track; IDs start again from 1."""
        self._tracks = []
        self._next_id = 1

    def _acceptable(self, track: _Track, box: tuple[int, int, int, int], overlap: float) -> bool:
        if overlap >= self.iou_threshold:
            return True
        tx, ty, tw, th = track.box
        bx, by, bw, bh = box
        dist = math.hypot((tx + tw / 2) - (bx + bw / 2), (ty + th / 2) - (by + bh / 2))
        return dist <= self.centre_gate * max(tw, th)

    def update(self, faces: Sequence[FaceEmotion], t: float) -> list[TrackedFace]:
        """Assign this frame's ``faces`` (detected at time ``t`` seconds) to tracks.

        Returns one :class:`TrackedFace` per input face, in the input's order.
        """
        self._tracks = [tr for tr in self._tracks if t - tr.last_seen <= self.max_age_s]
        assigned: dict[int, _Track] = {}
        if self._tracks and faces:
            overlaps = np.array([[iou(tr.box, f.box) for f in faces] for tr in self._tracks])
            rows, cols = linear_sum_assignment(1.0 - overlaps)
            for r, c in zip(rows, cols, strict=True):
                if self._acceptable(self._tracks[r], faces[c].box, overlaps[r, c]):
                    assigned[c] = self._tracks[r]
        out = []
        for i, face in enumerate(faces):
            p = np.asarray(face.probabilities, dtype=np.float64)
            track = assigned.get(i)
            score = float(getattr(face, "detection_score", 1.0))
            readable = getattr(face, "readable", True)
            if track is None:
                track = _Track(self._next_id, face.box, p, t, 1, score, readable)
                self._next_id += 1
                self._tracks.append(track)
            else:
                track.hits += 1
                track.score_sum += score
                if readable and not track.read:  # the first reading of a face seen so far unreadable
                    track.probabilities, track.read = p, True
                elif readable:  # an unreadable frame leaves the smoothed expression as it was
                    alpha = 1.0 - math.exp(-max(0.0, t - track.last_seen) / self.smoothing_s) if self.smoothing_s > 0 else 1.0
                    smoothed = track.probabilities + alpha * (p - track.probabilities)
                    track.probabilities = smoothed / smoothed.sum()
                track.box, track.last_seen = face.box, t
            out.append(
                TrackedFace(
                    track.face_id,
                    face.box,
                    track.probabilities.astype(np.float32),
                    face,
                    track.hits,
                    track.score_sum / track.hits,
                )
            )
        return out
