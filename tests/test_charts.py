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
