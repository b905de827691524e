"""Live dashboard: webcam and microphone together. Faces boxed and labelled, what was said,
the emotion of the words and of the voice, a fused emotion, and the trends of all of it."""

from __future__ import annotations

import statistics
import time

import streamlit as st
from aiortc.contrib.media import MediaBlackhole
from streamlit_webrtc import WebRtcMode

from emotion import display
from emotion.charts import probability_bars, probability_trend, utterance_trend
from emotion.display import MODALITY_SHORT, MODALITY_TITLES
from emotion.face.draw import face_caption
from emotion.live import MAX_BACKLOG_S, LiveSession
from emotion.speech.analyzer import language_note
from ui.resources import face_analyzer_or_stop, speech_analyzer_or_stop
from ui.webrtc import live_streamer
from ui.widgets import hidden_transcripts, page_header, wrap_columns_below

TREND_WINDOW_S = 60.0
STATUS_REFRESH_S = 1.0  # fused label, transcript, metrics
CHART_REFRESH_S = 2.0  # the four charts (each refresh rebuilds the Plotly figures on the server)
FINISH_S = 15.0  # after STOP, keep refreshing this long at most while the last utterance is analysed
BACKLOG_WARN_S = 10.0
TRANSCRIPT_LINES = 20  # the latest utterances, newest first, in a scroll box
TRANSCRIPT_HEIGHT = 340  # pixels
CHART_UTTERANCES = 20

page_header(
    "Live dashboard",
    "🧭",
    "Press **START** and allow the camera and the microphone, then talk to the camera. Faces come back boxed "
    "and labelled; each sentence is transcribed with the emotion of its words and of the voice; the fused "
    "emotion combines the face, the words and the voice, each weighted by its certainty and by your weights.",
)
FUSION_RULE = (
    "The fused probabilities are the weighted mean of the parts' probabilities; each part's weight is your weight "
    "× its certainty (1 − entropy / log 7). The fused label is the most probable among the labels the parts said."
)

faces = face_analyzer_or_stop()
speech = speech_analyzer_or_stop()  # also puts the Whisper model choice in the sidebar
if "live_session" not in st.session_state:
    st.session_state.live_session = LiveSession(faces, speech, window_s=TREND_WINDOW_S)
session: LiveSession = st.session_state.live_session
session.speech.analyzer = speech  # another Whisper model applies from the next utterance

# Devices are fixed for a stream (the browser asks for them on START): their switches are drawn
# after the streamer, greyed out while it plays.
was_playing = st.session_state.get("dashboard_playing", False)
devices = st.sidebar.container()
camera = st.session_state.setdefault("dash_camera", True)
microphone = st.session_state.setdefault("dash_microphone", True)


CAMERA_OFF = "Camera off: no faces are read. Press STOP, switch it on under Devices in the sidebar, then START."


def device_switches(disabled: bool) -> None:
    with devices:
        st.subheader("Devices")
        st.toggle("Camera", key="dash_camera", disabled=disabled)
        st.toggle("Microphone", key="dash_microphone", disabled=disabled)
        if disabled:
            st.caption("Press STOP to change devices.")


st.sidebar.subheader("Fusion")
st.sidebar.caption("Switch a modality off, or set how much it counts (its certainty counts too).")
weights: dict[str, float] = {}
for name, label in MODALITY_TITLES.items():
    on = st.sidebar.toggle(label, value=True, key=f"dash_use_{name}")
    weights[name] = st.sidebar.slider(f"{label} weight", 0.0, 2.0, 1.0, 0.1, key=f"dash_w_{name}") if on else 0.0

if not (camera or microphone):
    device_switches(disabled=False)
    st.warning("Switch on the camera, the microphone or both (sidebar) to start.")
    st.stop()

# The stream's figures on a row of their own (legible at 1280 px, stacked on narrow screens), then
# the camera in the middle: the current face's chart on its left, the fused emotion and the
# transcript on its right, the three trends below.
metrics_row = st.container(key="dash_metrics")
wrap_columns_below("dash_metrics", 1280)
# the camera and the current face get the width; the fused estimate and the transcript (a
# scroll box of fixed height) sit below them, so the trends stay in view
face_col, video_col = st.columns([1, 1.5])
with video_col:
    # One streamer carries both: the video callback runs in streamlit-webrtc's worker on the newest
    # frame only (latest-frame-wins), the queued audio callback gets every frame (never dropped) and
    # only buffers it; VAD and Whisper run in their own threads (emotion.live).
    ctx = live_streamer(
        key="live-dashboard",
        mode=WebRtcMode.SENDRECV,
        media_stream_constraints={"video": camera, "audio": microphone},
        video_frame_callback=session.video,
        queued_audio_frames_callback=session.speech.on_audio_frames,
        on_audio_ended=session.speech.on_ended,
        async_processing=True,
        # The annotated video is sent back; the voice is not (no echo). aiortc tracks run only when
        # pulled, so the processed audio track is consumed by a black hole.
        sendback_audio=False,
        out_recorder_factory=MediaBlackhole,
    )
playing = bool(ctx.state.playing)
device_switches(disabled=playing)
if playing and not was_playing:
    session.reset()  # a new stream: trends, timeline and latencies start from zero
if was_playing and not playing:
    st.session_state.dashboard_stopped_at = time.monotonic()
st.session_state.dashboard_playing = playing


def finishing() -> bool:
    """After STOP, the last utterance is still being analysed (for up to FINISH_S seconds)."""
    stopped_at = st.session_state.get("dashboard_stopped_at", float("-inf"))
    return not playing and session.speech.snapshot(last=0).running and time.monotonic() - stopped_at < FINISH_S


# The panels refresh while the stream plays, and after STOP until the last utterance is shown.
refreshing = playing or finishing()
st.session_state.dashboard_refreshing = refreshing


PART_NAMES = {name: short.capitalize() for name, short in MODALITY_SHORT.items()}  # Face, Words, Voice


def _span(window: tuple[float, float] | None) -> str:
    return "–" if window is None else f"{display.seconds(window[0])}–{display.seconds(window[1])}"


def parts_table(snap) -> str:
    """The fusion panel's rows as a Markdown table (labels and numbers only: no user text)."""
    rows = ["| Part | Says | Weight |", "|---|---|---|"]
    off = [d for d, on in (("camera", camera), ("microphone", microphone)) if not on]
    for part in snap.now_parts(weights, devices_off=off):
        # a part with nothing says why in its "Says" cell; a reduced weight says why beside it
        says = part.note if part.label is None else f"{part.label} {part.probability:.0%}"
        note = f" ({part.note})" if part.label is not None and part.note else ""
        rows.append(f"| {PART_NAMES[part.name]} | {says or '–'} | {part.share:.0%}{note} |")
    return "\n".join(rows)


def windows_line(snap) -> str:
    """The seconds each part of the current estimate covers, on the session clock."""
    face = snap.now_face_window
    line = f"Face: mean over {_span(face)} s." if face is not None and camera else ""
    u = snap.now_utterance
    if u is not None:
        line += f" Words and voice: the utterance at {display.seconds(u.start_s)}–{display.seconds(u.end_s)} s."
    else:
        line += f" Words and voice: none in the last {snap.speech_hold_s:g} s."
    return line.strip()


@st.fragment(run_every=STATUS_REFRESH_S if refreshing else None)
def metrics_panel() -> None:
    # the pipelines' own snapshots (no fusion), and the latencies the transcript panel recorded
    # when it showed each utterance (this row shows no utterance, so it marks none)
    face, speech_count = session.video.snapshot(), session.speech.snapshot(last=0).count
    latencies = session.shown_latencies()
    m1, m2, m3, m4 = st.columns(4)
    # after STOP the rate and the faces describe nothing any more: no stale figures
    m1.metric("Processing rate (fps)", f"{face.fps:.1f}" if playing and face.frames else "–", border=True)
    m2.metric("Faces in view", len(face.faces) if playing and face.frames else "–", border=True)
    m3.metric("Utterances", speech_count, border=True)
    m4.metric(
        "Speech latency (s)",
        f"{statistics.median(latencies):.1f}" if latencies else "–",
        help="Median time from the end of an utterance to its result on this page.",
        border=True,
    )


with metrics_row:
    metrics_panel()


@st.fragment(run_every=STATUS_REFRESH_S if refreshing else None)
def status_panel() -> None:
    snap = session.snapshot(weights, ended=not playing)
    shown_after = session.mark_shown(snap)  # seconds from the end of each utterance to this page
    fused_col, words_col = st.columns([1, 1.25])
    with fused_col:
        fused_panel(snap)
    with words_col:
        transcript_panel(snap, shown_after)
    if refreshing and not playing and not finishing():
        st.rerun()  # the last utterance is in: one full rerun stops the timers


def fused_panel(snap) -> None:
    fused = snap.fused_now
    if fused is not None:
        st.metric(
            "Fused emotion" + ("" if playing else " (end of the stream)"),
            fused.label,
            f"{fused.score:.0%} · at {display.seconds(snap.media_end_s or snap.now_s)} s",
            delta_color="off",
            delta_arrow="off",
            border=True,
        )
    else:
        st.metric("Fused emotion", "–", border=True)
        st.caption("Waiting for a face or an utterance." if playing else "Press START to begin.")
    if fused is not None or snap.face.frames or snap.utterances:
        st.markdown(parts_table(snap))
        st.caption(windows_line(snap) + " " + FUSION_RULE)
    for what, error in (("Frame", snap.face.error), ("Speech", snap.speech.error)):
        if error:
            st.warning(f"{what} processing failed: {error}")
    if snap.speech.backlog_s > BACKLOG_WARN_S or snap.speech.queued > 3:
        st.warning(
            f"Speech analysis is falling behind: {snap.speech.backlog_s:.0f} s of audio and {snap.speech.queued} "
            "utterances are waiting. A smaller Whisper model (sidebar) keeps up."
        )
    if snap.speech.skipped_s:
        st.warning(
            f"{snap.speech.skipped_s:.0f} s of speech were skipped (not analysed): the analysis fell more than "
            f"{MAX_BACKLOG_S:.0f} s behind the microphone."
        )


def transcript_panel(snap, shown_after) -> None:
    st.markdown("**Latest transcript**")
    box = st.container(height=TRANSCRIPT_HEIGHT, key="dash_transcript")  # scrolls; the page does not grow
    if not snap.utterances:
        box.caption("Say a sentence, then pause." if playing and microphone else "No utterance yet.")
    recent = list(zip(snap.utterances, snap.fused_utterances, shown_after, strict=True))[-TRANSCRIPT_LINES:]
    note = language_note(snap.utterances)
    if note:
        box.caption(note)
    for u, f, after in reversed(recent):
        box.text(
            f"[{display.seconds(u.start_s)}–{display.seconds(u.end_s)} s] {display.transcript(u.text, u.transcript_status)}"
        )  # plain text
        if u.translation:
            box.text(f"({u.language} → en) {u.translation}")
        parts = [display.utterance_line(u, f)]
        if after is not None:
            parts.append(f"shown {after:.1f} s after it ended")
        box.caption(" · ".join(parts))
    with box:
        hidden_transcripts([u for u, _, _ in recent], key="dash-hidden")


status_panel()


@st.fragment(run_every=CHART_REFRESH_S if refreshing else None)
def current_face_panel() -> None:
    snap = session.snapshot(weights)
    followed = snap.face.followed
    if not camera:
        st.info(CAMERA_OFF)
    elif weights["face"] == 0:
        st.info("Face switched off.")
    elif followed is not None and not followed.readable:
        st.info(
            f"{'Current face' if playing else 'Last face seen'} #{followed.face_id}: {display.face_label(None, followed.status)}, so no expression is read."
        )
    elif followed is not None:
        # after STOP the chart keeps the last face of the stream, and says so
        title = f"{'Current face' if playing else 'Last face seen'}: {face_caption(followed, followed.face_id)}"
        st.markdown(f"**{title}**")  # above the chart, where a long title wraps instead of being cut
        st.plotly_chart(probability_bars(followed.probabilities, height=320), key="dash-face-bars")
    else:
        st.info("Current face: no face in view." if snap.face.frames else "Current face: waiting for video.")


with face_col:
    current_face_panel()


@st.fragment(run_every=CHART_REFRESH_S if refreshing else None)
def trends_panel() -> None:
    snap = session.snapshot(weights)
    trend_col, words_col, voice_col = st.columns([1.2, 1, 1])
    with trend_col:
        if not camera:
            st.info(CAMERA_OFF)
        elif weights["face"] == 0:
            st.info("Face switched off.")
        elif len(snap.face.trend_t):
            fig = probability_trend(
                snap.face.trend_t, snap.face.trend_p, window_s=TREND_WINDOW_S, height=320, title="Face emotion trend, last 60 s"
            )
            st.plotly_chart(fig, key="dash-face-trend")
        else:
            st.info("Face emotion trend: no face yet.")
    recent = snap.utterances[-CHART_UTTERANCES:]
    for col, modality in ((words_col, "semantic"), (voice_col, "acoustic")):
        title = f"{MODALITY_SHORT[modality].capitalize()}, latest utterances"  # fits a third of 1280 px
        with col:
            fig = utterance_trend(recent, modality, title, height=320)
            if weights[modality] == 0:
                st.info(f"{MODALITY_SHORT[modality].capitalize()} switched off.")
            elif fig is not None:
                st.plotly_chart(fig, key=f"dash-{modality}")
            else:
                st.info(f"{title}: no utterance yet.")


trends_panel()

st.subheader("Export this session")
st.caption(
    "Face rows (every 0.5 s per face), utterances and the fused emotion of each utterance, on the session clock; "
    "the columns are documented in docs/columns.md."
)
e1, e2 = st.columns(2)
e1.download_button(
    "Download timeline (CSV)",
    data=lambda: session.timeline(weights).to_csv(),  # built when clicked, with everything so far
    file_name="live_session_timeline.csv",
    mime="text/csv",
    on_click="ignore",
)
e2.download_button(
    "Download timeline (JSON)",
    data=lambda: session.timeline(weights).to_json(),
    file_name="live_session_timeline.json",
    mime="application/json",
    on_click="ignore",
)
