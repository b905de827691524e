"""Audio file: upload speech; every utterance is transcribed with its semantic and acoustic emotion."""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from emotion import display
from emotion.analysis import Analysis, Analyzers, analyze
from emotion.charts import utterance_trend
from emotion.speech.audio import AUDIO_EXTENSIONS
from ui.resources import settings, speech_analyzer_or_stop
from ui.widgets import analyse_or_stop, page_header, progress_line, shown, uploaded_file, utterance_table

page_header(
    "Audio file",
    "🎧",
    "Upload a recording: it is cut into utterances by voice-activity detection, each one transcribed "
    "by Whisper and labelled with the emotion of its words and of the voice. Long files are processed in chunks.",
)

analyzer = speech_analyzer_or_stop()
upload = uploaded_file("Audio", AUDIO_EXTENSIONS, key="audio", prompt="Choose an audio file to analyse.")
name = upload.name
results = st.session_state.get("audio_results")
run_key = (upload.file_id, analyzer.transcriber.model_label)  # a new file or another Whisper model: analyse again
if results is None or results["key"] != run_key:

    def analyse(progress) -> Analysis:
        started = time.monotonic()

        def on_progress(_stage: str, done_s: float, total_s: float | None) -> None:
            fraction = min(1.0, done_s / total_s) if total_s else 0.0
            progress.progress(fraction, text=progress_line("Audio", done_s, total_s or 0.0, time.monotonic() - started))

        return analyze(
            upload.data, kind="audio", name=name, analyzers=Analyzers(settings(), speech=analyzer), progress=on_progress
        )

    analysis = analyse_or_stop(name, analyse)
    results = {"key": run_key, "utterances": list(analysis.utterances), "notes": analysis.notes, "analysis": analysis}
    st.session_state.audio_results = results

utterances = results["utterances"]
for note in results["notes"]:  # trouble that did not stop the analysis (a damaged or truncated file)
    st.info(note[0].upper() + note[1:])
if not utterances:
    st.warning(f"No speech found in {shown(name)}: it is silent, or holds no voice the detector recognises.")
    st.stop()

st.success(f"{len(utterances)} utterance{'s' if len(utterances) != 1 else ''} in {shown(name)}.")
left, right = st.columns(2)
for col, modality in ((left, "semantic"), (right, "acoustic")):
    title = display.MODALITY_TITLES[modality]
    fig = utterance_trend(utterances, modality, title)
    if fig is not None:
        col.plotly_chart(fig, key=f"audio-{modality}")
utterance_table(utterances, newest_first=False, key="audio-utterances")

timeline = results["analysis"].timeline()
stem = Path(name).stem or "audio"
c1, c2 = st.columns(2)
c1.download_button("Download timeline (CSV)", timeline.to_csv(), f"{stem}_timeline.csv", "text/csv")
c2.download_button("Download timeline (JSON)", timeline.to_json(), f"{stem}_timeline.json", "application/json")
