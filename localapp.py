"""Home page of the multimodal emotion recognition app: ``streamlit run localapp.py``.

Streamlit discovers the pages in ``pages/`` (one file per capability). The app does not
use ``st.navigation``: mixed with a ``pages/`` folder it sends WebRTC reruns to a
"Page not found" fallback (streamlit/streamlit#8860 and the hybrid-mode warning).
"""

from __future__ import annotations

import streamlit as st

from emotion.errors import ModelError
from emotion.models import read_card
from ui.resources import face_analyzer
from ui.widgets import emotion_legend

st.set_page_config(page_title="Emotion recognition", page_icon="🙂", layout="wide")
st.title("Multimodal emotion recognition")
st.write(
    "Find every face in a photo or a live webcam stream and label its emotion, with seven labels "
    "in the FER2013 order: angry, disgust, fear, happy, sad, surprise, neutral. "
    "Everything runs on this machine with ONNX models; nothing is sent anywhere."
)

st.subheader("Pages")
st.page_link("pages/1_Photo.py", label="Photo: upload a picture, see each face boxed and labelled", icon="📷")
st.page_link("pages/2_Live_camera.py", label="Live camera: your webcam, labelled frame by frame, with a trend", icon="🎥")

st.subheader("Colour legend")
emotion_legend()

st.subheader("Models")
try:
    analyzer = face_analyzer()
except (ModelError, ValueError) as exc:
    st.error(f"The face models could not be loaded: {exc}")
else:
    card = read_card(analyzer.classifier.model.path)
    private = card.get("evaluation", {}).get("PrivateTest", {}).get("accuracy")
    st.table(
        [
            {"role": "face detector", "model": f"Haar cascade ({analyzer.detector.cascade_path.name})", "accuracy": "–"},
            {
                "role": "face expression",
                "model": f"{card.get('name')} ({card.get('parameters', 0):,} parameters, ONNX)",
                "accuracy": f"FER2013 PrivateTest {private * 100:.1f}%" if private else "not measured",
            },
        ]
    )
