"""Small widgets used on several pages."""

from __future__ import annotations

import streamlit as st

from emotion.labels import COLORS_HEX, EMOTIONS


def emotion_legend() -> None:
    """The colour of each of the 7 emotions, in label order (fixed text, no user input)."""
    chips = " ".join(
        f'<span style="background:{COLORS_HEX[e]};color:#000;padding:2px 8px;border-radius:8px;'
        f'margin-right:4px;white-space:nowrap">{e}</span>'
        for e in EMOTIONS
    )
    st.markdown(chips, unsafe_allow_html=True)
