"""Plotly figures from plain data (pure functions; no Streamlit)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .display import seconds
from .labels import COLORS_HEX, EMOTIONS

# No template: in the app Streamlit's theme styles the charts; naming one (e.g. "plotly_white")
# made Plotly validate and deep-copy it for every figure, most of the cost of a live dashboard
# refresh. Each figure is built in one call, not trace by trace, for the same reason.
_LAYOUT = dict(margin=dict(l=10, r=10, t=40, b=10))


def probability_bars(probabilities: np.ndarray, title: str | None = None, height: int = 300) -> go.Figure:
    """Bar chart of one probability vector float (7,), bars in label order and colour."""
    p = np.asarray(probabilities, dtype=float).reshape(len(EMOTIONS))
    bar = go.Bar(
        x=list(EMOTIONS),
        y=p,
        marker_color=[COLORS_HEX[e] for e in EMOTIONS],
        text=[f"{v * 100:.0f}%" for v in p],
        textposition="outside",
        hovertemplate="%{x}: %{y:.1%}<extra></extra>",
    )
    layout = dict(title=title, height=height, yaxis=dict(range=[0, 1.1], tickformat=".0%", title="probability"), **_LAYOUT)
    return go.Figure(data=[bar], layout=layout)


ROW_HEIGHT = 240  # pixels per row of small multiples
ROW_GAP = 110  # pixels between rows: the rotated emotion names and the next row's title
SINGLE_HEIGHT = 360  # pixels of the chart of a single face


def faces_probability_bars(probabilities: Sequence[np.ndarray], titles: Sequence[str], cols: int = 3) -> go.Figure:
    """Small multiples: one bar chart per face. ``probabilities``: n vectors (7,);
    ``titles``: n subplot titles (e.g. ``"#1 happy 87%"``). One face gets one bar chart of
    :data:`SINGLE_HEIGHT` pixels (:func:`probability_bars`), not a strip one row high.

    Raises:
        ValueError: no faces."""
    n = len(probabilities)
    if n == 0:
        raise ValueError("no faces to chart")
    if n == 1:
        return probability_bars(probabilities[0], title=titles[0], height=SINGLE_HEIGHT)
    cols = min(cols, n)
    rows = math.ceil(n / cols)
    # a fixed gap in pixels between rows, room for the rotated tick labels and the next title
    height = ROW_HEIGHT * rows + ROW_GAP * (rows - 1)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=list(titles), shared_yaxes=True, vertical_spacing=ROW_GAP / height)
    for i, p in enumerate(probabilities):
        fig.add_trace(
            go.Bar(
                x=list(EMOTIONS),
                y=np.asarray(p, dtype=float),
                marker_color=[COLORS_HEX[e] for e in EMOTIONS],
                showlegend=False,
                hovertemplate="%{x}: %{y:.1%}<extra></extra>",
            ),
            row=i // cols + 1,
            col=i % cols + 1,
        )
    fig.update_yaxes(range=[0, 1], tickformat=".0%")
    fig.update_xaxes(tickangle=-45)
    fig.update_layout(height=height, **_LAYOUT)
    return fig


def probability_trend(
    times: np.ndarray,
    probabilities: np.ndarray,
    window_s: float | None = 60.0,
    height: int = 300,
    title: str | None = None,
    markers: bool = False,
    gap_s: float | None = None,
) -> go.Figure:
    """Line per emotion over time. ``times`` float [n] seconds; ``probabilities`` [n, 7].
    The x axis shows the last ``window_s`` seconds (all of it when None); ``markers``
    marks each sample (for sparse series such as utterances). Where consecutive samples are
    more than ``gap_s`` seconds apart (default: :func:`gap_threshold`), the lines break: a
    stretch with no face is drawn as a gap, not as a line from the last sample to the next."""
    t = np.asarray(times, dtype=float)
    p = np.asarray(probabilities, dtype=float).reshape(len(t), len(EMOTIONS))
    if not markers:
        t, p = with_gaps(t, p, gap_threshold(t) if gap_s is None else gap_s)
    mode = "lines+markers" if markers else "lines"
    lines = [
        go.Scatter(x=t, y=p[:, i], name=e, mode=mode, line=dict(color=COLORS_HEX[e], width=2)) for i, e in enumerate(EMOTIONS)
    ]
    # seconds in the tick labels rather than an axis title, which the legend below would cover
    xaxis: dict = dict(ticksuffix=" s")
    if window_s is not None:
        end = float(t[-1]) if len(t) else window_s
        xaxis["range"] = [max(0.0, end - window_s), max(end, window_s)]
    layout = dict(
        title=title,
        height=height,
        xaxis=xaxis,
        yaxis=dict(range=[0, 1], tickformat=".0%", title="probability"),
        legend=dict(orientation="h", y=-0.25),
        **_LAYOUT,
    )
    return go.Figure(data=lines, layout=layout)


def gap_threshold(times: np.ndarray, factor: float = 3.0, at_least_s: float = 1.0) -> float:
    """Seconds between samples above which a trend has a gap: ``factor`` times the median
    spacing of ``times`` (float [n], seconds), and at least ``at_least_s``."""
    t = np.asarray(times, dtype=float)
    step = float(np.median(np.diff(t))) if len(t) > 1 else 0.0
    return max(at_least_s, factor * step)


def with_gaps(times: np.ndarray, probabilities: np.ndarray, gap_s: float) -> tuple[np.ndarray, np.ndarray]:
    """``times`` [n] and ``probabilities`` [n, 7] with a NaN row inserted wherever consecutive
    samples are more than ``gap_s`` seconds apart (Plotly breaks a line at NaN)."""
    t = np.asarray(times, dtype=float)
    p = np.asarray(probabilities, dtype=float)
    breaks = np.flatnonzero(np.diff(t) > gap_s) + 1
    if not len(breaks):
        return t, p
    mid = (t[breaks - 1] + t[breaks]) / 2
    return np.insert(t, breaks, mid), np.insert(p, breaks, np.nan, axis=0)


def utterance_trend(utterances, modality: str, title: str, height: int = 300) -> go.Figure | None:
    """Emotion of each utterance over the session: ``modality`` is ``"semantic"`` or
    ``"acoustic"``; x is the utterance's end time (s). None when no utterance has it. With one
    utterance, a trend would be a lone dot: its probabilities as bars instead
    (:func:`probability_bars`, the title naming its span)."""
    having = [u for u in utterances if getattr(u, modality) is not None]
    if not having:
        return None
    if len(having) == 1:
        (u,) = having
        span = f"{seconds(u.start_s)}–{seconds(u.end_s)} s"
        return probability_bars(getattr(u, modality), title=f"{title} (one utterance, {span})", height=height)
    t = np.array([u.end_s for u in having])
    p = np.stack([getattr(u, modality) for u in having])
    return probability_trend(t, p, window_s=None, height=height, title=title, markers=True)
