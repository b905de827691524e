"""Voice: the microphone, cut into utterances, each transcribed with the emotion of its
words (semantic) and of the voice (acoustic); and a box that classifies typed text."""

from __future__ import annotations

import streamlit as st
from aiortc.contrib.media import MediaBlackhole
from streamlit_webrtc import WebRtcMode

from emotion import display
from emotion.charts import probability_bars, utterance_trend
from emotion.errors import InputError
from emotion.live import SpeechStreamProcessor
from ui.resources import settings, speech_analyzer_or_stop
from ui.webrtc import live_streamer
from ui.widgets import page_header, utterance_table

REFRESH_S = 0.5
WINDOW = 50  # utterances redrawn on each refresh (the newest): the cost of a refresh does not grow with the session

page_header(
    "Voice",
    "🎙️",
    "Press **START** and allow the microphone, then speak. Each sentence (cut by voice-activity "
    "detection) appears with its transcript, the emotion of the words and the emotion of the voice.",
)

analyzer = speech_analyzer_or_stop()
if "voice_processor" not in st.session_state:
    st.session_state.voice_processor = SpeechStreamProcessor(analyzer)
processor: SpeechStreamProcessor = st.session_state.voice_processor
processor.analyzer = analyzer  # a Whisper model chosen in the sidebar applies from the next utterance

# audio only: the streamer's (empty) video area is kept narrow
streamer_col, _ = st.columns([1, 2])
with streamer_col:
    ctx = live_streamer(
        key="voice",
        mode=WebRtcMode.SENDRECV,
        media_stream_constraints={"video": False, "audio": True},
        queued_audio_frames_callback=processor.on_audio_frames,  # every frame: audio is never dropped
        on_audio_ended=processor.on_ended,
        # No echo of your own voice: nothing is sent back. aiortc tracks are pulled by their
        # consumer, so the processed track is consumed by a black hole (else no callback runs).
        sendback_audio=False,
        out_recorder_factory=MediaBlackhole,
        async_processing=True,
    )
playing = bool(ctx.state.playing)
st.caption(f"Transcription: Whisper {analyzer.transcriber.model_label if analyzer.transcriber else 'off'}")


@st.fragment(run_every=REFRESH_S if playing else None)
def voice_panel() -> None:
    snap = processor.snapshot(last=WINDOW)
    m1, m2, m3 = st.columns(3)
    m1.metric("Audio received (s)", f"{snap.received_s:.1f}")
    m2.metric("Utterances", snap.count)
    m3.metric("Waiting for analysis", snap.queued)
    if snap.error:
        st.warning(f"Speech processing failed: {snap.error}")
    if snap.skipped_s:
        st.warning(
            f"{snap.skipped_s:.0f} s of speech were skipped: the analysis could not keep up with the microphone. "
            "A smaller Whisper model (sidebar) keeps up."
        )
    if not snap.utterances:
        st.info("Listening… say a sentence, then pause." if playing else "Press START to begin.")
        return
    latest = snap.utterances[-1]
    st.markdown("**Latest utterance**")
    st.text(display.transcript(latest.text, latest.transcript_status))  # plain text, never HTML
    if latest.translation:
        st.text(f"({latest.language} → en) {latest.translation}")
    if latest.transcript_unreliable:
        st.caption(
            "Not recognised as English: the bundled Whisper model knows English only, so its words are not what was "
            "said and were not read for emotion (open them under the transcript table; see the note there)."
        )
    st.markdown(f"**{display.utterance_line(latest)}**")  # labels and numbers only: no user text
    left, right = st.columns(2)
    for col, modality in ((left, "semantic"), (right, "acoustic")):
        fig = utterance_trend(snap.utterances, modality, display.MODALITY_TITLES[modality])
        if fig is not None:
            col.plotly_chart(fig, key=f"voice-{modality}")
    st.markdown(
        "**Transcript**" + (f" (the latest {len(snap.utterances)} of {snap.count})" if snap.count > len(snap.utterances) else "")
    )
    utterance_table(snap.utterances, key="voice-utterances")


voice_panel()

st.divider()
st.subheader("Classify typed text")
with st.form("typed-text"):
    typed = st.text_area("Text", max_chars=settings().max_text_chars, placeholder="Type a sentence…")
    submitted = st.form_submit_button("Classify")
if submitted:
    try:
        probs = analyzer.analyze_text(typed)
    except InputError as exc:
        st.error(f"Could not classify the text: {exc}")
    else:
        st.plotly_chart(probability_bars(probs, title="Words (semantic) of the text"), key="typed-bars")
