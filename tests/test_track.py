"""Face tracking: stable IDs on moving faces, track ageing, smoothing against flicker."""

import numpy as np
import pytest

from emotion.face.analyzer import FaceEmotion
from emotion.face.track import FaceTracker, iou
from emotion.labels import index


def probs(label: str, p: float = 0.9) -> np.ndarray:
    v = np.full(7, (1 - p) / 6, np.float32)
    v[index(label)] = p
    return v


def face(x, y, label="happy", side=100):
    return FaceEmotion((int(x), int(y), side, side), probs(label))


def test_iou():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 20, 10, 10)) == 0.0
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)


def test_two_moving_faces_keep_their_ids_whatever_the_detection_order():
    tracker = FaceTracker()
    first = None
    for k in range(30):  # 1 s at 30 fps; faces move 8 px per frame towards each other
        a = face(50 + 8 * k, 100, "happy")
        b = face(700 - 8 * k, 120, "sad")
        frame = [a, b] if k % 2 else [b, a]  # detector order changes from frame to frame
        tracked = tracker.update(frame, k / 30)

        by_label = {t.raw.label: t.face_id for t in tracked}
        first = first or by_label
        assert by_label == first and set(first.values()) == {1, 2}, f"frame {k}: {by_label}"


def test_fast_motion_is_followed_by_the_centre_gate():
    tracker = FaceTracker(iou_threshold=0.3, centre_gate=0.5)
    tracker.update([face(100, 100)], 0.0)
    (t,) = tracker.update([face(140, 100)], 0.033)  # IoU 0.43: kept by IoU
    assert t.face_id == 1
    (t,) = tracker.update([face(185, 100)], 0.066)  # IoU 0.38
    (t,) = tracker.update([face(400, 400)], 0.1)  # far away: a new face
    assert t.face_id == 2


def test_a_face_that_leaves_briefly_keeps_its_id_and_a_long_absence_ends_it():
    tracker = FaceTracker(max_age_s=1.0)
    assert tracker.update([face(100, 100)], 0.0)[0].face_id == 1
    assert tracker.update([], 0.5) == []
    assert tracker.update([face(105, 100)], 0.9)[0].face_id == 1  # back within 1 s
    assert tracker.update([face(105, 100)], 3.0)[0].face_id == 2  # gone 2.1 s: a new track, IDs not reused
    tracker.reset()
    assert tracker.update([face(105, 100)], 4.0)[0].face_id == 1


def test_one_odd_frame_does_not_flip_the_label_but_a_lasting_change_does():
    tracker = FaceTracker(smoothing_s=0.5)
    t = 0.0
    for _ in range(15):
        tracker.update([face(100, 100, "happy")], t)
        t += 1 / 30
    (odd,) = tracker.update([face(100, 100, "angry")], t)
    assert odd.raw.label == "angry" and odd.label == "happy"
    labels = []
    for _ in range(30):  # one second of angry
        t += 1 / 30
        labels.append(tracker.update([face(100, 100, "angry")], t)[0].label)
    assert labels[-1] == "angry" and labels.index("angry") < 20  # follows within ~0.6 s
    assert abs(float(tracker.update([face(100, 100, "angry")], t + 0.03)[0].probabilities.sum()) - 1) < 1e-5


def test_smoothing_does_not_depend_on_the_frame_rate():
    def after_one_second(fps):
        tracker = FaceTracker(smoothing_s=0.5)
        tracker.update([face(100, 100, "happy")], 0.0)
        out = None
        for k in range(1, fps + 1):
            (out,) = tracker.update([face(100, 100, "sad")], k / fps)
        return out.probabilities[index("sad")]

    assert after_one_second(10) == pytest.approx(after_one_second(30), abs=0.02)


def test_real_face_moving_across_frames_keeps_one_id(analyzer, astronaut_bgr):
    head = astronaut_bgr[20:280, 110:360]
    tracker = FaceTracker()
    seen = set()
    for k in range(12):
        frame = np.full((480, 900, 3), 128, np.uint8)
        x = 20 + 25 * k  # 25 px per frame: 375 px/s at 15 fps
        frame[100:360, x : x + 250] = head
        tracked = tracker.update(analyzer.analyze(frame), k / 15)
        assert len(tracked) == 1
        seen.add(tracked[0].face_id)
        assert tracked[0].label == "happy"
    assert seen == {1}
