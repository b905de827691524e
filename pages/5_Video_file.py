"""Video file: tracked faces on sampled frames, the soundtrack's utterances, and a fused
emotion per utterance; the annotated video and the timeline to download."""

from __future__ import annotations

import time

import numpy as np
import streamlit as st

from emotion import display
from emotion.analysis import Analysis, Analyzers, analyze
from emotion.charts import probability_trend, utterance_trend
from emotion.formats import VIDEO_EXTENSIONS
from ui.resources import face_analyzer_or_stop, settings, speech_analyzer_or_stop
from ui.widgets import analyse_or_stop, page_header, progress_line, shown, uploaded_file, utterance_table

page_header(
    "Video file",
    "🎬",
    "Upload a video: faces are found and tracked on frames sampled at the rate you choose, the soundtrack "
    "is transcribed with the emotion of the words and of the voice, and each utterance gets a fused emotion. "
    "Every frame comes back in an annotated copy of the video, with the faces boxed and labelled.",
)

faces = face_analyzer_or_stop()
speech = speech_analyzer_or_stop()
sample_fps = st.sidebar.slider("Frames analysed per second", 0.5, 10.0, 2.0, 0.5, key="video_fps")
upload = uploaded_file("Video", VIDEO_EXTENSIONS, key="video", prompt="Choose a video to analyse.")
name = upload.name

results = st.session_state.get("video_results")
run_key = (upload.file_id, sample_fps, speech.transcriber.model_label)
if results is None or results["key"] != run_key:

    def analyse(progress) -> Analysis:
        started: dict[str, float] = {}

        def on_progress(stage: str, done_s: float, total_s: float | None) -> None:
            part = min(1.0, done_s / total_s) if total_s else 0.0
            fraction = part / 2 if stage == "faces" else 0.5 + part / 2
            elapsed = time.monotonic() - started.setdefault(stage, time.monotonic())
            what = "Faces (step 1 of 2)" if stage == "faces" else "Soundtrack (step 2 of 2)"
            progress.progress(fraction, text=progress_line(what, done_s, total_s or 0.0, elapsed))

        return analyze(
            upload.data,
            kind="video",
            name=name,
            analyzers=Analyzers(settings(), faces=faces, speech=speech),
            sample_fps=sample_fps,
            progress=on_progress,
            annotate=True,
        )

    st.session_state.pop("video_results", None)  # free the previous video (and its annotated copy) first
    results = {"key": run_key, "analysis": analyse_or_stop(name, analyse)}
    st.session_state.video_results = results

analysis = results["analysis"]
for note in analysis.notes:
    st.info(note[0].upper() + note[1:])
detections = sum(len(f) for _, f in analysis.faces)
ids = sorted({f.face_id for _, fs in analysis.faces for f in fs})
st.success(
    f"{shown(name)}: {len(analysis.faces)} frames analysed, {detections} face detections "
    f"({len(ids)} face{'s' if len(ids) != 1 else ''} tracked), {len(analysis.utterances)} "
    f"utterance{'s' if len(analysis.utterances) != 1 else ''}"
    + (f" ({why})." if (why := display.speech(analysis.speech_status, analysis.speech_heard_s)) else ".")
)

if analysis.annotated:
    st.video(analysis.annotated, format="video/mp4")

if any(fs for _, fs in analysis.faces):
    # every sampled frame; one without a face is a gap in the lines, not an interpolated stretch
    no_face = np.full(7, np.nan, np.float32)
    st.plotly_chart(
        probability_trend(
            np.array([t for t, _ in analysis.faces]),
            np.stack([fs[0].probabilities if fs and fs[0].readable else no_face for _, fs in analysis.faces]),
            window_s=None,
            title="Largest face per frame (tracked, smoothed); gaps: no face, or a face that cannot be read",
        ),
        key="video-faces",
    )
else:
    st.warning("No face found on the sampled frames.")
left, right = st.columns(2)
for col, modality in ((left, "semantic"), (right, "acoustic")):
    title = display.MODALITY_TITLES[modality]
    fig = utterance_trend(analysis.utterances, modality, title)
    if fig is not None:
        col.plotly_chart(fig, key=f"video-{modality}")
if analysis.utterances:
    utterance_table(analysis.utterances, newest_first=False, key="video-utterances")
if analysis.fused:
    st.markdown(
        "**Fused emotion per utterance**: the face followed during the utterance (the one on screen the most "
        "while it was said) + the words + the voice"
    )
    st.table(
        [
            {
                "start (s)": display.seconds(u.start_s, 2),
                "end (s)": display.seconds(u.end_s, 2),
                "transcript": display.transcript(u.text, u.transcript_status),
                "fused": f.label,
                "probability": f"{f.score:.2f}",
                "face": f"#{f.face_id}" if f.face_id is not None else "–",
            }
            for u, f in analysis.fused
        ],
        hide_index=True,
    )

timeline = analysis.timeline()
stem = name.rsplit(".", 1)[0] or "video"
c1, c2, c3 = st.columns(3)
c1.download_button("Download timeline (CSV)", timeline.to_csv(), f"{stem}_timeline.csv", "text/csv")
c2.download_button("Download timeline (JSON)", timeline.to_json(), f"{stem}_timeline.json", "application/json")
if analysis.annotated:
    c3.download_button("Download annotated video (MP4)", analysis.annotated, f"{stem}_annotated.mp4", "video/mp4")
