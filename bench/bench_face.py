"""Face pipeline benchmark: prints median and p95 latencies and the Live pipeline's frame rate.

    python -m bench.bench_face [--n 300] [--update-card]

Inputs: a 640x480 frame with one real face (scikit-image's astronaut photo centred on
a grey canvas, as in the browser test). Measured on one CPU thread of onnxruntime
(the app's setting, ``EMOTION_ORT_THREADS=1``).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.timing import measure, summary_ms  # noqa: E402
from emotion import FaceEmotionAnalyzer  # noqa: E402
from emotion.face.classify import crop_faces  # noqa: E402
from emotion.face.detect import to_gray  # noqa: E402
from emotion.stream import FaceVideoProcessor  # noqa: E402
from tests.media import face_scene  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=300, help="timed repetitions per measurement")
    ap.add_argument("--update-card", action="store_true", help="store the figures in the face model's card")
    args = ap.parse_args()

    from skimage import data

    frame = face_scene(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR), 640, 480)
    analyzer = FaceEmotionAnalyzer()
    faces = analyzer.analyze(frame)
    assert len(faces) == 1, "the benchmark frame must hold exactly one detected face"
    gray = to_gray(frame)
    boxes = analyzer.detector.detect(gray)
    crop = crop_faces(gray, boxes)

    results = {
        "detection + classification per 640x480 frame, 1 face": measure(lambda: analyzer.analyze(frame), args.n),
        "Haar detection alone per 640x480 frame": measure(lambda: analyzer.detector.detect(gray), args.n),
        "classifier alone per face (crop -> 64x64 -> ONNX)": measure(lambda: analyzer.classifier.predict_crops(crop), args.n * 3),
    }
    processor = FaceVideoProcessor(analyzer)
    video_frame = av.VideoFrame.from_ndarray(frame, format="bgr24")
    video_frame.pts, video_frame.time_base = 0, Fraction(1, 30)
    live = measure(lambda: processor(video_frame), args.n)
    results["Live callback per frame (av decode + analyse + draw + av encode)"] = live

    print(
        f"machine: {platform.processor() or platform.machine()}, {platform.python_implementation()} {platform.python_version()}"
    )
    figures = {}
    for name, secs in results.items():
        line = summary_ms(secs)
        figures[name] = line
        print(f"{name}: {line}")
    fps_median = 1.0 / float(np.median(live))
    fps_p95 = 1.0 / float(np.percentile(live, 95))
    fps_line = f"median {fps_median:.0f} fps, p95-latency {fps_p95:.0f} fps (without the browser)"
    figures["Live pipeline frame rate"] = fps_line
    print(f"Live pipeline frame rate: {fps_line}")

    if args.update_card:
        from training.evaluate_face import render_markdown

        card_path = ROOT / "models_onnx" / f"{analyzer.classifier.name}.json"
        card = json.loads(card_path.read_text())
        card["benchmark"] = {
            "command": "python -m bench.bench_face",
            "machine": "2-core x86-64 CI machine, onnxruntime CPU, 1 thread",
            "figures": figures,
        }
        card_path.write_text(json.dumps(card, indent=2) + "\n")
        card_path.with_suffix(".md").write_text(render_markdown(card))
        print(f"updated {card_path}")


if __name__ == "__main__":
    main()
