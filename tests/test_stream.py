from fractions import Fraction

import av
import numpy as np

from emotion.live import FaceVideoProcessor
from emotion.timeline import ProbabilityTrend


class FakeClock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def _frame(image_bgr, pts):
    frame = av.VideoFrame.from_ndarray(image_bgr, format="bgr24")
    frame.pts = pts
    frame.time_base = Fraction(1, 30)
    return frame


def test_video_callback_annotates_and_records(analyzer, astronaut_bgr):
    clock = FakeClock()
    proc = FaceVideoProcessor(analyzer, window_s=60, clock=clock)
    assert proc.snapshot().frames == 0 and proc.snapshot().fps == 0.0
    for i in range(10):
        out = proc(_frame(astronaut_bgr, i))
        clock.t += 0.1
    assert out.pts == 9 and out.time_base == Fraction(1, 30) and out.width == 512
    assert not np.array_equal(out.to_ndarray(format="bgr24"), astronaut_bgr), "the frame comes back annotated"
    snap = proc.snapshot()
    assert snap.frames == 10 and [f.label for f in snap.faces] == ["happy"]
    assert [f.face_id for f in snap.faces] == [1] and snap.followed_id == 1 and snap.followed.label == "happy"
    assert 9.0 < snap.fps < 11.5  # processed 10 frames, 0.1 s apart
    # ...but their times are their own timestamps (pts / 30), not when the callback ran
    assert snap.trend_p.shape == (10, 7) and np.allclose(snap.trend_t, np.arange(10) / 30)
    clock.t += 5  # idle: the rate drops to zero
    assert proc.snapshot().fps == 0.0
    proc.reset()
    snap = proc.snapshot()
    assert snap.frames == 0 and snap.faces == () and len(snap.trend_t) == 0
    proc(_frame(astronaut_bgr, 10))
    assert proc.snapshot().trend_t.tolist() == [0.0], "a new stream's trend starts at t = 0"


def test_callback_survives_a_failing_analyzer(astronaut_bgr):
    class Broken:
        def analyze(self, image):
            raise RuntimeError("boom")

    proc = FaceVideoProcessor(Broken())
    out = proc(_frame(astronaut_bgr, 1))
    assert np.array_equal(out.to_ndarray(format="bgr24"), astronaut_bgr)
    assert "boom" in proc.snapshot().error


def test_trend_window_drops_old_samples():
    trend = ProbabilityTrend(window_s=10, max_samples=1000)
    for t in range(30):
        trend.add(float(t), np.full(7, 1 / 7))
    times, probs = trend.snapshot()
    assert times[0] == 19 and times[-1] == 29 and probs.shape == (11, 7)


def test_frame_times_come_from_timestamps_not_from_callbacks(analyzer, astronaut_bgr):
    clock = FakeClock()
    proc = FaceVideoProcessor(analyzer, clock=clock)
    # 90 kHz RTP timestamps starting near the 32-bit wrap; frames 1/15 s apart, processed in bursts
    base = 2**32 - 3000
    for i, late in enumerate((0.0, 0.5, 0.0, 0.9, 0.0, 0.0)):
        clock.t += late
        proc(_frame90k(astronaut_bgr, (base + i * 6000) % 2**32))
    t, _ = proc.snapshot().trend_t, None
    assert np.allclose(t, np.arange(6) / 15), t  # unwrapped, and the late callbacks moved nothing


def _frame90k(image_bgr, pts):
    frame = av.VideoFrame.from_ndarray(image_bgr, format="bgr24")
    frame.pts = pts
    frame.time_base = Fraction(1, 90_000)
    return frame
