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


def utterance_rows(utterances) -> list[dict]:
    """One table row per utterance: times, transcript, and each modality's label and score."""
    rows = []
    for u in utterances:
        rows.append(
            {
                "start (s)": round(u.start_s, 2),
                "end (s)": round(u.end_s, 2),
                "transcript": u.text,
                "words (semantic)": u.semantic_label or "–",
                "words score": None if u.semantic is None else round(float(u.semantic.max()), 2),
                "voice (acoustic)": u.acoustic_label or "–",
                "voice score": None if u.acoustic is None else round(float(u.acoustic.max()), 2),
            }
        )
    return rows


def utterance_table(utterances, newest_first: bool = True) -> None:
    """The utterances as a table (transcripts shown as plain text, never as HTML)."""
    rows = utterance_rows(utterances)
    st.dataframe(rows[::-1] if newest_first else rows, hide_index=True)
