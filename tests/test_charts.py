import numpy as np
import pytest

from emotion.charts import faces_probability_bars, probability_bars, probability_trend
from emotion.labels import COLORS_HEX, EMOTIONS


def test_probability_bars_in_label_order_and_colour():
    p = np.arange(7) / 21
    fig = probability_bars(p)
    (bar,) = fig.data
    assert list(bar.x) == list(EMOTIONS)
    assert np.allclose(bar.y, p)
    assert list(bar.marker.color) == [COLORS_HEX[e] for e in EMOTIONS]


def test_faces_probability_bars_one_subplot_per_face():
    fig = faces_probability_bars([np.full(7, 1 / 7)] * 4, ["a", "b", "c", "d"], cols=3)
    assert len(fig.data) == 4
    assert [a.text for a in fig.layout.annotations] == ["a", "b", "c", "d"]
    with pytest.raises(ValueError):
        faces_probability_bars([], [])


def test_trend_has_a_line_per_emotion_over_the_window():
    t = np.linspace(0, 90, 50)
    fig = probability_trend(t, np.full((50, 7), 1 / 7), window_s=60)
    assert [d.name for d in fig.data] == list(EMOTIONS)
    assert tuple(fig.layout.xaxis.range) == (30.0, 90.0)


def test_a_stretch_without_a_face_is_a_gap_not_a_line():
    from emotion.charts import gap_threshold, probability_trend, with_gaps

    t = np.concatenate([np.arange(0, 2, 0.1), np.arange(6, 8, 0.1)])  # no face from 2 to 6 s
    p = np.tile(np.eye(7)[3], (len(t), 1))
    assert gap_threshold(t) == pytest.approx(1.0)
    fig = probability_trend(t, p, window_s=None)
    y = np.array(fig.data[3].y, dtype=float)
    x = np.array(fig.data[3].x, dtype=float)
    (hole,) = np.flatnonzero(np.isnan(y))
    assert x[hole - 1] < 2.0 < x[hole] < 6.0 <= x[hole + 1]  # the line breaks over the stretch
    assert len(y) == len(t) + 1
    # regular samples: no break; utterance markers are never broken
    t2, p2 = with_gaps(np.arange(0, 5, 0.1), np.tile(np.eye(7)[0], (50, 1)), 1.0)
    assert not np.isnan(p2).any() and len(t2) == 50
    assert not np.isnan(np.array(probability_trend(t, p, markers=True).data[0].y, dtype=float)).any()


def test_one_face_gets_a_chart_of_normal_height_not_a_strip():
    fig = faces_probability_bars([np.full(7, 1 / 7)], ["#1 happy 87%"])
    assert len(fig.data) == 1 and fig.data[0].type == "bar"
    assert fig.layout.height >= 300 and fig.layout.title.text == "#1 happy 87%"


def test_one_utterance_is_drawn_as_bars_and_more_as_a_trend():
    from emotion.charts import utterance_trend
    from emotion.speech.analyzer import Utterance

    p = np.array([0.1, 0.0, 0.0, 0.7, 0.1, 0.0, 0.1], np.float32)
    one = utterance_trend([Utterance(1.25, 2.5, "hi", p, None)], "semantic", "Words")
    assert [t.type for t in one.data] == ["bar"] and list(one.data[0].y) == pytest.approx(p.tolist())
    assert one.layout.title.text == "Words (one utterance, 1.2–2.5 s)"
    two = utterance_trend([Utterance(1.0, 2.0, "hi", p, None), Utterance(3.0, 4.0, "ho", p, None)], "semantic", "Words")
    assert {t.type for t in two.data} == {"scatter"} and len(two.data) == 7
    assert utterance_trend([Utterance(1.0, 2.0, "hi", p, None)], "acoustic", "Voice") is None
