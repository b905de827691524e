"""Measure the face detectors on synthetic composites of real faces: recall, false positives,
latency.

Faces (tests/photos.py): 13 faces of two real people from scikit-image photographs (the
astronaut and the camera operator): the two photographs unedited (a frontal and a turned
face), the astronaut photo rotated (15, -30, 45 degrees), the astronaut's head shrunk to
40, 30 and 24 px and pasted onto the rocket photo in a 640x480 frame, and a group composite:
5 heads of both, 50-110 px, some rotated, pasted onto the coffee photo. False boxes: 12 real,
unedited face-free photos. A face counts as found when a detection overlaps its hand-drawn
box with IoU >= 0.3. No real photo of several people is measured: none with a suitable
licence was available offline (PHOTOS_NOT_MEASURED).

Two modes, as the app uses them: live video (detection copy of 320 px, one pass) and
photos (1280 px copy, tiled). Latency: one 640x480 frame, live mode, onnxruntime with
one thread, median and p95 of 200 runs.

    python training/evaluate_detector.py [--update-card]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from bench.timing import measure  # noqa: E402
from devkit.photos import face_free_photos, match, photos_with_faces  # noqa: E402
from emotion.config import Settings  # noqa: E402
from emotion.face.blazeface import BlazeFaceDetector  # noqa: E402
from emotion.face.detect import HaarFaceDetector  # noqa: E402

MODES = {"live (320 px copy)": 320, "photo (1280 px copy)": 1280}
PHOTOS = (
    "tests/photos.py: synthetic composites of real faces, 13 faces of two people (the scikit-image astronaut "
    "and camera operator): 2 unedited photographs, 3 rotations of one, 3 shrunk heads pasted onto another photo, "
    "a group composite of 5 shrunk (some rotated) heads pasted onto another photo; 12 real face-free photographs; "
    "IoU >= 0.3 with hand-drawn boxes"
)
PHOTOS_NOT_MEASURED = (
    "real photographs of several people: no such set with a licence that allows it was available offline, "
    "so recall on real group photos is not measured"
)
BLAZEFACE = ("blazeface_full_range", "blazeface_short_range")


def evaluate(detector, faces, face_free) -> dict:
    out = {}
    for mode, side in MODES.items():
        by_kind: dict[str, list[int]] = {}
        false_on_faces = 0
        for p in faces:
            found, false = match(detector.detect(p.image, max_side=side).boxes, p.faces)
            k = by_kind.setdefault(p.kind, [0, 0])
            k[0] += found
            k[1] += len(p.faces)
            false_on_faces += false
        false_free = {p.name: len(detector.detect(p.image, max_side=side)) for p in face_free}
        found = sum(v[0] for v in by_kind.values())
        total = sum(v[1] for v in by_kind.values())
        out[mode] = {
            "recall": round(found / total, 3),
            "found": f"{found}/{total}",
            "by_kind": {k: f"{v[0]}/{v[1]}" for k, v in by_kind.items()},
            "false_positives_on_face_photos": false_on_faces,
            "detections_on_face_free_photos": sum(false_free.values()),
            "face_free_photos": len(face_free),
            "face_free_detections_by_photo": {k: v for k, v in false_free.items() if v},
        }
    return out


def frame_640x480() -> np.ndarray:
    """A 640x480 BGR frame: the astronaut's head and shoulders on the rocket photo."""
    photo = next(p for p in photos_with_faces() if p.name == "astronaut").image
    return cv2.resize(photo[0:384, 64:576], (640, 480), interpolation=cv2.INTER_AREA)


def latency_ms(detector, frame: np.ndarray, runs: int = 200) -> dict:
    times = measure(lambda: detector.detect(frame, max_side=320), runs, warmup=10) * 1000
    return {"median_ms": round(float(np.median(times)), 2), "p95_ms": round(float(np.percentile(times, 95)), 2)}


def render_markdown(card: dict) -> str:
    """The human-readable card of a BlazeFace model, from its JSON card."""
    src, inp = card["source"], card["input"]
    lines = [
        f"# Model card: {card['name']}",
        "",
        f"Task: {card['task']} ({card['range']}). Parameters: {card['parameters']:,}.",
        "",
        "## Input, output, decoding",
        f"- input `{inp['name']}`: {inp['dtype']} {inp['shape']} ({inp['layout']}); {card['preprocessing']}",
        f"- outputs: `{card['output']['regressors']}` (box + 6 keypoints per anchor), `{card['output']['scores']}` (logit per anchor)",
        f"- anchors: strides {card['anchors']['strides']}, {card['anchors']['anchors_per_cell']} per cell; {card['decoding']}",
        f"- score threshold {card['score_threshold']}; overlapping boxes merged by OpenCV NMS (IoU 0.3)",
        f"- keypoints: {', '.join(card['keypoints'])}",
        "- in the app: `emotion/face/blazeface.py`; live video searches a 320 px copy in one pass, photos a 1280 px "
        "copy plus overlapping tiles of 2.5x the input side (small faces)",
        "",
        "## Source and licence",
        f"- `{src['file']}` from `{src['package']}` (wheel sha256 `{src['wheel_sha256']}`, model sha256 `{src['model_sha256']}`)",
        f"- model: {src['paper']}",
        f"- licence: {card['licence']}",
        f"- conversion: `{card['command']}` ({src['converter']}); check: {card['conversion_check']}",
    ]
    ev = card.get("evaluation")
    if ev:
        lines += [
            "",
            "## Measured on synthetic composites of real faces",
            f"Command: `{ev['command']}`. Photos: {ev['photos']}.",
            *([f"Not measured: {ev['not_measured']}."] if ev.get("not_measured") else []),
            "",
            "| detector | mode | faces found | by kind | false boxes on face photos | boxes on 12 face-free photos |",
            "|---|---|---|---|---|---|",
        ]
        for who, res in ((card["name"], ev), ("Haar cascade", ev["haar_for_comparison"])):
            for mode in MODES:
                r = res[mode]
                kinds = ", ".join(f"{k} {v}" for k, v in r["by_kind"].items())
                lines.append(
                    f"| {who} | {mode} | {r['found']} | {kinds} | {r['false_positives_on_face_photos']} | "
                    f"{r['detections_on_face_free_photos']} {r['face_free_detections_by_photo'] or ''} |"
                )
    lat = card.get("latency")
    if lat:
        lines += [
            "",
            "## Latency",
            f"{lat['what']}: median {lat['median_ms']} ms, p95 {lat['p95_ms']} ms "
            f"(Haar cascade: median {lat['haar_for_comparison']['median_ms']} ms, p95 {lat['haar_for_comparison']['p95_ms']} ms).",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--update-card", action="store_true", help="store the results in the BlazeFace cards")
    args = p.parse_args(argv)
    settings = Settings()
    detectors = {"haar": HaarFaceDetector(settings.haar_cascade)}
    for name in BLAZEFACE:
        detectors[name] = BlazeFaceDetector(settings.model_path(name))
    faces, face_free = photos_with_faces(), face_free_photos()
    frame = frame_640x480()
    results = {}
    for name, det in detectors.items():
        res = evaluate(det, faces, face_free)
        res["latency_640x480_live"] = latency_ms(det, frame)
        results[name] = res
        print(f"== {name} on synthetic composites of real faces (tests/photos.py)")
        for mode, r in res.items():
            print(f"  {mode}: {json.dumps(r)}")
    print(f"not measured: {PHOTOS_NOT_MEASURED}")
    if args.update_card:
        for name in BLAZEFACE:
            path = settings.model_path(name).with_suffix(".json")
            card = json.loads(path.read_text())
            card["evaluation"] = {k: v for k, v in results[name].items() if k in MODES} | {
                "photos": PHOTOS,
                "not_measured": PHOTOS_NOT_MEASURED,
                "haar_for_comparison": {k: v for k, v in results["haar"].items() if k in MODES},
                "command": "python training/evaluate_detector.py --update-card",
            }
            card["latency"] = results[name]["latency_640x480_live"] | {
                "what": "one 640x480 BGR frame, live mode (320 px copy), onnxruntime 1 thread, 200 runs",
                "haar_for_comparison": results["haar"]["latency_640x480_live"],
            }
            path.write_text(json.dumps(card, indent=2) + "\n")
            path.with_suffix(".md").write_text(render_markdown(card))
            print(f"updated {path.name} and {path.with_suffix('.md').name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
