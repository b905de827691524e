"""Plotly figures from plain data (pure functions; no Streamlit)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .labels import COLORS_HEX, EMOTIONS

_LAYOUT = dict(margin=dict(l=10, r=10, t=40, b=10), template="plotly_white")


def probability_bars(probabilities: np.ndarray, title: str | None = None, height: int = 300) -> go.Figure:
    """Bar chart of one probability vector float (7,), bars in label order and colour."""
    p = np.asarray(probabilities, dtype=float).reshape(len(EMOTIONS))
    fig = go.Figure(
        go.Bar(
            x=list(EMOTIONS),
            y=p,
            marker_color=[COLORS_HEX[e] for e in EMOTIONS],
            text=[f"{v * 100:.0f}%" for v in p],
            textposition="outside",
            hovertemplate="%{x}: %{y:.1%}<extra></extra>",
        )
    )
    fig.update_layout(title=title, height=height, yaxis=dict(range=[0, 1.1], tickformat=".0%", title="probability"), **_LAYOUT)
    return fig


def faces_probability_bars(probabilities: Sequence[np.ndarray], titles: Sequence[str], cols: int = 3) -> go.Figure:
    """Small multiples: one bar chart per face. ``probabilities``: n vectors (7,);
    ``titles``: n subplot titles (e.g. ``"#1 happy 87%"``)."""
    n = len(probabilities)
    if n == 0:
        raise ValueError("no faces to chart")
    cols = min(cols, n)
    rows = math.ceil(n / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=list(titles), shared_yaxes=True, vertical_spacing=0.25 / rows)
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
    fig.update_layout(height=280 * rows, **_LAYOUT)
    return fig


def probability_trend(
    times: np.ndarray, probabilities: np.ndarray, window_s: float = 60.0, height: int = 300, title: str | None = None
) -> go.Figure:
    """Line per emotion over time. ``times`` float [n] seconds; ``probabilities`` [n, 7].
    The x axis shows the last ``window_s`` seconds."""
    t = np.asarray(times, dtype=float)
    p = np.asarray(probabilities, dtype=float).reshape(len(t), len(EMOTIONS))
    fig = go.Figure()
    for i, e in enumerate(EMOTIONS):
        fig.add_trace(go.Scatter(x=t, y=p[:, i], name=e, mode="lines", line=dict(color=COLORS_HEX[e], width=2)))
    end = float(t[-1]) if len(t) else window_s
    fig.update_layout(
        title=title,
        height=height,
        xaxis=dict(title="time (s)", range=[max(0.0, end - window_s), max(end, window_s)]),
        yaxis=dict(range=[0, 1], tickformat=".0%", title="probability"),
        legend=dict(orientation="h", y=-0.25),
        **_LAYOUT,
    )
    return fig
