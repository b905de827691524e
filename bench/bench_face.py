"""Face pipeline benchmark: prints median and p95 latencies and the Live pipeline's frame rate,
for the default pipeline (BlazeFace + FERNet), BlazeFace + mini-Xception, and the default
before this project's detector and network (Haar + mini-Xception).

    python -m bench.bench_face [--n 300] [--update-card]

Inputs: a 640x480 frame with one real face (scikit-image's astronaut photo centred on
a grey canvas, as in the browser test). Measured on one CPU thread of onnxruntime
(the app's setting, ``EMOTION_ORT_THREADS=1``).
"""

from __future__ import annotations

import argparse
import json
import platform
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from bench.timing import measure, summary_ms  # noqa: E402
from devkit.media import face_scene  # noqa: E402
from emotion import FaceEmotionAnalyzer  # noqa: E402
from emotion.config import Settings  # noqa: E402
from emotion.face.classify import crop_faces  # noqa: E402
from emotion.face.detect import to_gray  # noqa: E402
from emotion.live import FaceVideoProcessor  # noqa: E402

CONFIGS = {
    "default (BlazeFace full range + FERNet)": ("blazeface_full_range", "fernet"),
    "BlazeFace full range + mini-Xception": ("blazeface_full_range", "mini_xception"),
    "before (Haar + mini-Xception)": ("haar", "mini_xception"),
}


def bench_config(detector: str, model: str, frame: np.ndarray, n: int) -> dict[str, list[float]]:
    settings = Settings.from_env().replace(face_detector=detector, face_model=model)
    analyzer = FaceEmotionAnalyzer(settings=settings)
    faces = analyzer.analyze(frame)
    assert len(faces) == 1, f"{detector}: the benchmark frame must hold exactly one detected face, got {len(faces)}"
    gray = to_gray(frame)
    crop = crop_faces(gray, analyzer.detector.detect(frame).boxes)
    side = analyzer.classifier.input_size
    processor = FaceVideoProcessor(analyzer)
    video_frame = av.VideoFrame.from_ndarray(frame, format="bgr24")
    video_frame.pts, video_frame.time_base = 0, Fraction(1, 30)
    return {
        f"{detector} detection alone per 640x480 frame": measure(lambda: analyzer.detector.detect(frame), n),
        f"{model} alone per face (crop -> {side}x{side} -> ONNX)": measure(
            lambda: analyzer.classifier.predict_crops(crop), n * 3
        ),
        "detection + classification per 640x480 frame, 1 face": measure(lambda: analyzer.analyze(frame), n),
        "Live callback per frame (av decode + analyse + draw + av encode)": measure(lambda: processor(video_frame), n),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=300, help="timed repetitions per measurement")
    ap.add_argument("--update-card", action="store_true", help="store the figures in the default face model's card")
    args = ap.parse_args()

    from skimage import data

    frame = face_scene(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR), 640, 480)
    print(
        f"machine: {platform.processor() or platform.machine()}, {platform.python_implementation()} {platform.python_version()}"
    )
    figures: dict[str, dict[str, str]] = {}
    for title, (detector, model) in CONFIGS.items():
        print(f"== {title}")
        results = bench_config(detector, model, frame, args.n)
        lines = {name: summary_ms(secs) for name, secs in results.items()}
        live = results["Live callback per frame (av decode + analyse + draw + av encode)"]
        lines["Live pipeline frame rate"] = (
            f"median {1.0 / float(np.median(live)):.0f} fps, p95-latency {1.0 / float(np.percentile(live, 95)):.0f} fps "
            "(without the browser)"
        )
        for name, line in lines.items():
            print(f"{name}: {line}")
        figures[title] = lines

    if args.update_card:
        from training.evaluate_face import render_markdown

        for title, (detector, model) in CONFIGS.items():
            if detector != "blazeface_full_range":
                continue  # each card gets its model's figures in the default detector's pipeline
            card_path = ROOT / "models_onnx" / f"{model}.json"
            card = json.loads(card_path.read_text())
            card["benchmark"] = {
                "command": "python -m bench.bench_face",
                "machine": "2-core x86-64 CI machine, onnxruntime CPU, 1 thread",
                "figures": {f"{title}: {k}": v for k, v in figures[title].items()},
            }
            card_path.write_text(json.dumps(card, indent=2) + "\n")
            card_path.with_suffix(".md").write_text(render_markdown(card))
            print(f"updated {card_path}")


if __name__ == "__main__":
    main()
