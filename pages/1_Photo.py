"""Photo: upload a picture, see every face boxed and labelled with its emotion."""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from emotion.analysis import Analysis, Analyzers, analyze
from emotion.charts import faces_probability_bars
from emotion.face import faces_report
from emotion.face.draw import face_caption, face_words
from emotion.formats import IMAGE_EXTENSIONS
from ui.resources import face_analyzer_or_stop
from ui.widgets import analyse_or_stop, page_header, shown, uploaded_file

DISPLAY_MAX_SIDE = 1600  # pixels sent to the browser for display; downloads keep full size

page_header("Photo", "📷", "Upload a photo: every face is found, boxed and labelled with its emotion.")

analyzer = face_analyzer_or_stop()
upload = uploaded_file("Photo", IMAGE_EXTENSIONS, key="photo", prompt="Choose a photo to analyse.")
name = upload.name


def analyse(progress) -> Analysis:
    """Everything that holds the full-size picture runs here, inside the server's analysis slot;
    what leaves it is small: the faces, the display copy and the annotated PNG's bytes."""
    progress.progress(0.3, text="Finding faces…")
    return analyze(
        upload.data,
        kind="image",
        name=name,
        analyzers=Analyzers(analyzer.settings, faces=analyzer),
        annotate=True,
        preview_max_side=DISPLAY_MAX_SIDE,
    )


analysis = analyse_or_stop(name, analyse)
(width, height), faces, display, annotated_png = (
    analysis.image_size,
    list(analysis.faces[0][1]),
    analysis.preview,
    analysis.annotated,
)
st.caption(f"{shown(name)} · {width}×{height} px · model {analyzer.classifier.name}")
if not faces:
    st.warning("No face found in this photo. Faces should be frontal, upright and at least about 40 px wide.")
    st.image(display, channels="BGR", caption="Uploaded photo")
    st.stop()

st.success(
    f"{len(faces)} face{'s' if len(faces) != 1 else ''} found: "
    + ", ".join(face_caption(f, i) for i, f in enumerate(faces, start=1))
)
# the annotated photo across the page, then one chart per face and the table of boxes
st.image(display, channels="BGR", caption="Annotated")
read = [(i, f) for i, f in enumerate(faces, start=1) if f.readable]
if len(read) < len(faces):
    st.info(
        f"{len(faces) - len(read)} of {len(faces)} faces get no expression: turned away, too small or too blurred "
        "for the model to read (see the documentation, docs/faces.md: 'Faces that cannot be read')."
    )
ambiguous = [i for i, f in read if f.ambiguous]
if ambiguous:
    st.info(
        f"Face{'s' if len(ambiguous) != 1 else ''} {', '.join(f'#{i}' for i in ambiguous)}: the model hesitates between "
        "two labels (shown with a question mark), so neither is a finding: such faces get the first label right about "
        "4 times in 10 and one of the two 7 times in 10 (FER2013 PrivateTest; docs/faces.md, 'Ambiguous faces'). "
        "They count half in fusion."
    )
if read:
    st.plotly_chart(
        faces_probability_bars([f.probabilities for _, f in read], [face_caption(f, i) for i, f in read], cols=4),
        key="photo-bars",
    )
st.dataframe(
    [
        {
            "face": i,
            "emotion": face_words(f),
            "score": round(f.score, 3) if f.readable else None,
            "x": f.box[0],
            "y": f.box[1],
            "w": f.box[2],
            "h": f.box[3],
        }
        for i, f in enumerate(faces, start=1)
    ],
    hide_index=True,
)

stem = Path(name).stem or "photo"
report = faces_report(faces, width, height, source=name, model=analyzer.classifier.name)
c1, c2 = st.columns(2)
c1.download_button("Download annotated image (PNG)", annotated_png, f"{stem}_emotions.png", "image/png")
c2.download_button("Download results (JSON)", json.dumps(report, indent=2), f"{stem}_emotions.json", "application/json")
