"""Live camera: the webcam comes back with every face boxed and labelled, with a live trend."""

from __future__ import annotations

import streamlit as st
from streamlit_webrtc import WebRtcMode

from emotion import display
from emotion.charts import probability_bars, probability_trend
from emotion.face.draw import face_caption
from emotion.live import FaceVideoProcessor
from ui.resources import face_analyzer_or_stop
from ui.webrtc import live_streamer
from ui.widgets import page_header

TREND_WINDOW_S = 60.0
REFRESH_S = 1.0

page_header(
    "Live camera",
    "🎥",
    "Press **START** and allow the camera: each face comes back boxed and labelled with a stable ID; labels are "
    "smoothed over about half a second, and the trend follows one person.",
)

analyzer = face_analyzer_or_stop()
# One processor per browser session; the WebRTC worker thread writes to it, this page reads it.
if "live_face_processor" not in st.session_state:
    st.session_state.live_face_processor = FaceVideoProcessor(analyzer, window_s=TREND_WINDOW_S)
processor: FaceVideoProcessor = st.session_state.live_face_processor

video_col, side_col = st.columns([3, 2])
with video_col:
    ctx = live_streamer(
        key="live-camera",
        mode=WebRtcMode.SENDRECV,
        video_frame_callback=processor,
        media_stream_constraints={"video": True, "audio": False},
        async_processing=True,  # latest-frame-wins: the worker skips frames that queued up
    )

playing = bool(ctx.state.playing)
if playing and not st.session_state.get("live_was_playing", False):
    processor.reset()  # a new stream: trend, frame count and rate start from zero
st.session_state.live_was_playing = playing


@st.fragment(run_every=REFRESH_S if playing else None)
def live_panel() -> None:
    snap = processor.snapshot()
    m1, m2 = st.columns(2)
    live = playing and snap.frames  # after STOP nothing is in view: no rate, no faces, no followed face
    m1.metric("Processing rate (fps)", f"{snap.fps:.1f}" if live else "–")
    m2.metric("Faces in view", len(snap.faces) if live else "–")
    if snap.error:
        st.warning(f"Frame processing failed: {snap.error}")
    followed = snap.followed
    if not playing and snap.frames:
        st.info("Stopped: the camera is off. The trend below is the last session's; press START to begin again.")
    elif followed is not None and not followed.readable:
        st.info(f"Followed face #{followed.face_id}: {display.face_label(None, followed.status)}, so no expression is read.")
    elif followed is not None:
        st.markdown(f"**Followed face:** {face_caption(followed, followed.face_id)}")
        st.plotly_chart(probability_bars(followed.probabilities, height=260), key="live-bars")
    elif snap.frames:
        st.info("No face in view.")
    else:
        st.info("Waiting for video…" if playing else "Press START to begin.")
    if len(snap.trend_t):
        st.plotly_chart(
            probability_trend(snap.trend_t, snap.trend_p, window_s=TREND_WINDOW_S, title="Followed face, last 60 s"),
            key="live-trend",
        )


with side_col:
    live_panel()
