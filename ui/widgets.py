"""Small widgets used on several pages."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import streamlit as st

from emotion import display
from emotion.errors import InputError
from emotion.labels import COLORS_HEX, EMOTIONS

T = TypeVar("T")


def page_header(title: str, icon: str, intro: str) -> None:
    """Every page's opening: wide layout, browser-tab title "<title> · Emotion", the page
    title, its one-paragraph introduction (fixed Markdown) and the colour legend. Must be the
    page's first Streamlit call (``st.set_page_config``)."""
    st.set_page_config(page_title=f"{title} · Emotion", page_icon=icon, layout="wide")
    home_in_sidebar()
    st.title(title)
    st.write(intro)
    emotion_legend()


# Streamlit names the main script's entry in the sidebar after its file (localapp.py); the
# entry is shown as "Home" instead. (st.navigation, which could title it, broke streamlit-webrtc's
# reruns when tried.) Fixed CSS, no user input.
_HOME_CSS = """<style>
[data-testid="stSidebarNav"] span[label="localapp"] p { visibility: hidden; position: relative; }
[data-testid="stSidebarNav"] span[label="localapp"] p::after { content: "Home"; visibility: visible; position: absolute; left: 0; }
</style>"""


def home_in_sidebar() -> None:
    """Show the home page's sidebar entry as "Home" rather than the script's name."""
    st.markdown(_HOME_CSS, unsafe_allow_html=True)


def wrap_columns_below(key: str, width_px: int) -> None:
    """Below a window width of ``width_px`` pixels, the columns inside the container ``key``
    (``st.container(key=key)``) wrap two per line instead of squeezing their text (Streamlit
    stacks columns only below 640 px). Fixed CSS, no user input."""
    css = (
        f"<style>@media (max-width: {int(width_px) - 1}px) {{"
        f' .st-key-{key} [data-testid="stHorizontalBlock"] {{ flex-wrap: wrap; }}'
        f' .st-key-{key} [data-testid="stColumn"] {{ flex: 1 1 calc(50% - 1rem) !important;'
        " min-width: calc(50% - 1rem) !important; } }</style>"
    )
    st.markdown(css, unsafe_allow_html=True)


def emotion_legend() -> None:
    """The colour of each of the 7 emotions, in label order (fixed text, no user input)."""
    chips = " ".join(
        f'<span style="background:{COLORS_HEX[e]};color:#000;padding:2px 8px;border-radius:8px;'
        f'margin-right:4px;white-space:nowrap">{e}</span>'
        for e in EMOTIONS
    )
    st.markdown(chips, unsafe_allow_html=True)


def utterance_rows(utterances) -> list[dict]:
    """One table row per utterance: times, transcript (and its language and English translation
    when any utterance is not English), and each modality's label and score."""
    rows = []
    utterances = list(utterances)
    languages = any(u.transcript_unreliable or u.translation for u in utterances)
    translations = any(u.translation for u in utterances)
    for u in utterances:
        row = {
            "start (s)": round(u.start_s, 2) + 0.0,  # never -0.0
            "end (s)": round(u.end_s, 2) + 0.0,
            "transcript": display.transcript(u.text, u.transcript_status),
        }
        if languages:
            row["language"] = display.language(u.language, u.transcript_status)
        if translations:
            row["English translation"] = u.translation
        rows.append(
            row
            | {
                "words (semantic)": display.semantic_label(u.semantic_label),
                "words score": None if u.semantic is None else round(float(u.semantic.max()), 2),
                "voice (acoustic)": display.acoustic_label(u.acoustic_label, u.acoustic_status),
                "voice score": None if u.acoustic is None else round(float(u.acoustic.max()), 2),
            }
        )
    return rows


def hidden_transcripts(utterances, key: str) -> None:
    """The transcripts marked "not English?" (:attr:`TranscriptStatus.UNRELIABLE`), collapsed in an
    expander a person may open (plain text, never HTML); nothing when there are none. ``key``
    keeps the expander open across reruns."""
    hidden = [u for u in utterances if u.transcript_unreliable]
    if not hidden:
        return
    with st.expander(f"Transcripts not recognised as English ({len(hidden)}): not what was said", key=key):
        st.caption("Whisper's guesses, kept for inspection; their words were not given to the words' model.")
        for u in hidden:
            st.text(f"[{display.seconds(u.start_s)}–{display.seconds(u.end_s)} s] {u.text}")  # plain text, never HTML


def utterance_table(utterances, newest_first: bool = True, key: str = "utterances") -> None:
    """The utterances as a table (transcripts shown as plain text, never as HTML), under a note
    on their language when there is one (:func:`emotion.speech.analyzer.language_note`); the
    transcripts not recognised as English are hidden in the table and collapsed below it
    (:func:`hidden_transcripts`, expander key ``key`` + "-hidden")."""
    from emotion.speech.analyzer import language_note

    utterances = list(utterances)
    note = language_note(utterances)
    if note and any(u.transcript_unreliable for u in utterances):
        st.warning(note)
    elif note:
        st.info(note)
    rows = utterance_rows(utterances)
    # a static table: long transcripts wrap and every column fits (an interactive dataframe cuts
    # its cells to one line and scrolls sideways); cells are text, never HTML
    shown_rows = [{k: (f"{v:.2f}" if isinstance(v, float) else ("–" if v is None else v)) for k, v in r.items()} for r in rows]
    st.table(shown_rows[::-1] if newest_first else shown_rows, hide_index=True)
    hidden_transcripts(utterances, key=f"{key}-hidden")


@dataclass(frozen=True)
class Upload:
    """An uploaded file: its base name, bytes and Streamlit's id for this upload."""

    name: str
    data: bytes
    file_id: str


def shown(name: str) -> str:
    """A user-supplied string (a file name) for a Markdown message: inside a code span, so
    Markdown and HTML in it (links, images, tags) are shown as typed, never rendered."""
    return "`" + name.replace("`", "'").replace("\n", " ") + "`"


def uploaded_file(what: str, extensions: Sequence[str], key: str, prompt: str) -> Upload:
    """A file uploader labelled with the accepted extensions and the server's size limit.

    Stops the page with ``prompt`` until a file is chosen, and with a clear error when the
    file is over ``server.maxUploadSize`` (the browser enforces it too; this covers other clients).
    """
    limit_mb = int(st.get_option("server.maxUploadSize"))
    upload = st.file_uploader(f"{what} ({', '.join(extensions)}; up to {limit_mb} MB)", type=list(extensions), key=key)
    if upload is None:
        st.info(prompt)
        st.stop()
    name = Path(upload.name).name
    data = upload.getvalue()
    if len(data) > limit_mb * 2**20:
        st.error(f"Could not read {shown(name)}: the file is {len(data) / 2**20:.1f} MB, over the {limit_mb} MB upload limit")
        st.stop()
    return Upload(name, data, upload.file_id)


def progress_line(what: str, done_s: float, total_s: float, elapsed_s: float) -> str:
    """Progress of a file analysis in media seconds, with an estimate of the time left, e.g.
    ``"Soundtrack: 12 s of 60 s analysed · about 48 s left"``. The estimate is the wall time so
    far per media second times the media seconds left; it is given once at least 2 s of media
    and 2 s of wall time have passed (earlier ones swing too much)."""
    line = f"{what}: {done_s:.0f} s of {total_s:.0f} s analysed" if total_s else f"{what}: {done_s:.0f} s analysed"
    if total_s and done_s >= 2.0 and elapsed_s >= 2.0 and done_s < total_s:
        left = elapsed_s / done_s * (total_s - done_s)
        line += f" · about {left:.0f} s left" if left < 90 else f" · about {left / 60:.0f} min left"
    return line


def analyse_or_stop(name: str, work: Callable[[Any], T]) -> T:
    """Run ``work(progress)`` (``progress``: an ``st.progress`` bar it may update) on the file
    ``name``, inside one of the server's analysis slots (:func:`ui.resources.file_analysis_slots`):
    while every slot is taken the bar says how many analyses are ahead; a full queue or a wait
    over ``EMOTION_ANALYSIS_WAIT_S`` says the server is busy. Bad input
    (:class:`~emotion.errors.InputError`) shows its message; any other failure is logged and shown
    as a short apology; either way the bar is removed first, the page stops there and the app
    keeps running."""
    from emotion.slots import ServerBusy
    from ui.resources import file_analysis_slots, settings

    slots = file_analysis_slots()
    progress = st.progress(0.0, text="Decoding…")

    def waiting(ahead: int) -> None:
        progress.progress(
            0.0,
            text=f"Waiting for the server: {ahead} analys{'is' if ahead == 1 else 'es'} ahead of yours "
            f"({slots.limit} run at once here)…",
        )

    def fail(message: str) -> None:
        progress.empty()
        st.error(message)
        st.stop()

    try:
        with slots.slot(settings().analysis_wait_s, on_wait=waiting):
            progress.progress(0.0, text="Decoding…")
            return work(progress)
    except ServerBusy as exc:
        fail(f"Could not analyse {shown(name)} now: {exc}.")
    except InputError as exc:
        fail(f"Could not read {shown(name)}: {exc}")
    except Exception:
        # logged without the file's name or content: nothing the user sends goes to the logs
        logging.getLogger(__name__).exception("analysis of an uploaded file failed")
        fail(f"Something went wrong while analysing {shown(name)}. Try another file.")
    finally:
        progress.empty()
