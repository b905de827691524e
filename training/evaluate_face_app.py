"""Measure the face pipeline the way the app runs it: detector box + eye-line alignment + crop.

``training/evaluate_face.py`` scores a face model on FER2013's pre-cut 48x48 crops. The app
never sees those: it finds a face with BlazeFace, squares the box, turns the face upright
by its eye line and crops it (:class:`emotion.face.analyzer.FaceEmotionAnalyzer`). This
script measures that path.

1. **FER2013 through the detector** (``fer2013``): each 48x48 face is enlarged 2x (bicubic)
   and set in the middle of a 192x192 frame filled with the mean of its border, so the
   face's original square is known (x = y = 48, side 96). The detector runs on the frame;
   the most confident box is cropped as the app crops it, in each crop variant
   (:data:`VARIANTS`), and classified. Reported per split: the share of faces found,
   accuracy on the faces found, per-class recall, and how the crop's square compares with
   the original square (side ratio, centre offset as a fraction of the side).
2. **Synthetic webcam degradations** (``robustness``): accuracy on the whole 48x48 faces
   blurred, JPEG-compressed, darkened, shrunk or shifted (:data:`DEGRADATIONS`).
3. **Calibration of the readability rule** (``calibrate``, PublicTest only): accuracy
   against face resolution (the known square shrunk to s px and enlarged again), against
   Gaussian blur (and the sharpness the app measures), and against the turn ratio of the
   detector's keypoints (:func:`emotion.face.quality.turn_ratio`).
4. **Faces outside FER2013** (``external``): whole photos through
   :meth:`FaceEmotionAnalyzer.analyze_photo`, the largest face taken:
   - ``--labelled DIR`` (one subfolder per label; repeatable), e.g. the Face Research Lab London Set (DeBruine & Jones 2017, CC BY 4.0;
     ``debruine/webmorphR.stim`` @ fa8b78fd, ``inst/neutral_front/*_03.jpg`` neutral and
     ``inst/smiling_front/*_08.jpg`` happy): 102 adults, studio light, frontal;
   - ``--cmu DIR``: CMU Face Images (T. Mitchell, UCI KDD archive; educational use only, not
     redistributable here), 128x120 grayscale, ``USER_POSE_EXPRESSION_open.png`` with the
     pose judged by eye in ``DIR/../manifest.csv`` (frontal / three_quarter / profile) and
     the expression (angry, happy, neutral, sad) from the name, and a reference face box per
     photo in ``face_box_xywh`` (OpenCV's frontal and profile Haar cascades, checked by eye);
     used for the detector on turned faces (faces found, IoU of the box with the reference)
     and the turned-away rule, not for training or selection.
   Neither set is in ``../shared``; they are read from wherever they were copied.

Selection (which crop variant the app uses, the rule's thresholds) is made on PublicTest
only; PrivateTest and the external sets are reported.

    python training/evaluate_face_app.py fer2013 [--model fernet] [--splits PublicTest PrivateTest]
    python training/evaluate_face_app.py calibrate
    python training/evaluate_face_app.py external --labelled /tmp/face17/expressions/ccby_london_set \\
        --cmu /tmp/face17/turned/cmu_faces
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from emotion.config import Settings  # noqa: E402
from emotion.face.analyzer import FaceEmotionAnalyzer, build_detector  # noqa: E402
from emotion.face.blazeface import BlazeFaceDetector  # noqa: E402
from emotion.face.classify import FaceExpressionClassifier, crop_aligned_faces, eye_roll_degrees  # noqa: E402
from emotion.face.quality import sharpness, turn_ratio  # noqa: E402
from emotion.face.track import iou  # noqa: E402
from emotion.labels import EMOTIONS  # noqa: E402
from training.evaluate_face import DEFAULT_DATA, SPLITS, _split  # noqa: E402
from training.metrics import confusion  # noqa: E402

SCALE, FRAME = 2, 192
"""FER2013 faces are enlarged SCALE times and set in a FRAME x FRAME frame."""
ORIGIN, SIDE = (FRAME - 48 * SCALE) // 2, 48 * SCALE
"""Where the face's original square lies in the frame (x = y = ORIGIN, side SIDE), pixels."""


def fer_frame(face: np.ndarray) -> np.ndarray:
    """uint8 [FRAME, FRAME]: a 48x48 face enlarged SCALE x (bicubic) in the middle of a frame
    filled with the mean of the face's border pixels."""
    big = cv2.resize(face, (SIDE, SIDE), interpolation=cv2.INTER_CUBIC)
    border = np.concatenate([face[0], face[-1], face[:, 0], face[:, -1]]).mean()
    frame = np.full((FRAME, FRAME), int(round(border)), np.uint8)
    frame[ORIGIN : ORIGIN + SIDE, ORIGIN : ORIGIN + SIDE] = big
    return frame


KEYPOINT_SIDE = 2.63
"""Side of :func:`keypoint_boxes`'s square, in eye-to-mouth distances: the median ratio of
FER2013's own face square to that distance (800 PublicTest faces, this script's fit)."""
KEYPOINT_CENTRE = 0.26
"""Centre of :func:`keypoint_boxes`'s square along the eye-midpoint -> mouth line (0 at the
eyes' midpoint, 1 at the mouth)."""


def keypoint_boxes(keypoints: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Squares (x, y, w, h px, int [n, 4]) built from BlazeFace keypoints float [n, 6, 2]
    instead of the detector's box: centred on the eye-midpoint -> mouth line at
    :data:`KEYPOINT_CENTRE`, with a side of :data:`KEYPOINT_SIDE` eye-to-mouth distances,
    which stays the height of the face when it turns. Faces without keypoints keep
    ``boxes``."""
    if keypoints.ndim != 3 or keypoints.shape[1] < 4 or len(keypoints) == 0:
        return np.asarray(boxes).copy()
    eyes = (keypoints[:, 0] + keypoints[:, 1]) / 2
    down = keypoints[:, 3] - eyes
    length = np.linalg.norm(down, axis=1)
    centre = eyes + KEYPOINT_CENTRE * down
    side = KEYPOINT_SIDE * length
    out = np.stack([centre[:, 0] - side / 2, centre[:, 1] - side / 2, side, side], 1)
    return np.round(out).astype(np.int32)


VARIANTS: dict[str, Callable] = {
    "box_10": lambda found: (found.boxes, 0.10),
    "box_25": lambda found: (found.boxes, 0.25),
    "keypoints": lambda found: (keypoint_boxes(found.keypoints, found.boxes), 0.0),
}
"""Crop variants: the detector's box squared with a 10% (the app's default until issue 17)
or 25% margin per side, or the square :func:`keypoint_boxes` builds
from the keypoints (no extra margin)."""


def run_fer2013(detector, clf: FaceExpressionClassifier, faces: np.ndarray, labels: np.ndarray, plus: np.ndarray) -> dict:
    """Every crop variant on one split; see the module docstring."""
    found_mask = np.zeros(len(faces), bool)
    preds = {v: np.full(len(faces), -1) for v in VARIANTS}
    geometry = {v: [] for v in VARIANTS}
    turns, sharp = np.full(len(faces), np.nan), np.full(len(faces), np.nan)
    for i, face in enumerate(faces):
        frame = fer_frame(face)
        found = detector.detect(frame)
        if len(found) == 0:
            continue
        best = int(np.argmax(found.scores))
        found = type(found)(found.boxes[best : best + 1], found.scores[best : best + 1], found.keypoints[best : best + 1])
        found_mask[i] = True
        turns[i] = float(turn_ratio(found.keypoints)[0]) if found.keypoints.shape[1] >= 3 else np.nan
        for name, make in VARIANTS.items():
            boxes, margin = make(found)
            crop = crop_aligned_faces(frame, boxes, eye_roll_degrees(found.keypoints), margin=margin)[0]
            preds[name][i] = int(clf.predict_crops([crop])[0].argmax())
            x, y, w, h = boxes[0]
            side = max(w, h) * (1 + 2 * margin)
            geometry[name].append(
                (side / SIDE, (x + w / 2 - (ORIGIN + SIDE / 2)) / SIDE, (y + h / 2 - (ORIGIN + SIDE / 2)) / SIDE)
            )
            if name == "box_10":
                sharp[i] = sharpness([crop])[0]
    whole = clf.predict_crops(list(faces)).argmax(1)
    out = {
        "n": int(len(faces)),
        "found": int(found_mask.sum()),
        "found_rate": round(float(found_mask.mean()), 4),
        "whole_crop_accuracy_found": round(float((whole[found_mask] == labels[found_mask]).mean()), 4),
        "whole_crop_accuracy_all": round(float((whole == labels).mean()), 4),
    }
    for name in VARIANTS:
        p = preds[name][found_mask]
        y = labels[found_mask]
        m = confusion(y, p)
        keep = plus[found_mask] >= 0
        g = np.array(geometry[name])
        out[name] = {
            "accuracy_found": round(float((p == y).mean()), 4),
            "accuracy_all": round(float((preds[name] == labels).sum() / len(labels)), 4),
            "recall": dict(zip(EMOTIONS, (np.diag(m) / np.maximum(m.sum(1), 1)).round(4).tolist(), strict=True)),
            "ferplus_accuracy_found": round(float((p[keep] == plus[found_mask][keep]).mean()), 4),
            "side_ratio_median": round(float(np.median(g[:, 0])), 3),
            "centre_dx_median": round(float(np.median(g[:, 1])), 3),
            "centre_dy_median": round(float(np.median(g[:, 2])), 3),
        }
    out["_turn"] = turns
    out["_sharpness"] = sharp
    out["_pred"] = preds
    out["_found"] = found_mask
    return out


def _bins(values: np.ndarray, correct: np.ndarray, edges: list[float]) -> list[dict]:
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = (values >= lo) & (values < hi)
        rows.append(
            {"from": lo, "to": hi, "n": int(sel.sum()), "accuracy": round(float(correct[sel].mean()), 4) if sel.any() else None}
        )
    return rows


def calibrate(detector, clf: FaceExpressionClassifier, data: Path, limit: int | None) -> dict:
    """Accuracy against resolution, blur (with the sharpness measured) and turn ratio, on PublicTest."""
    faces, labels, plus = _split(data, "PublicTest", limit, 0)
    out: dict = {"split": "PublicTest", "n": int(len(faces))}
    # Resolution: the known face square shrunk to s px and enlarged back, as a face s px wide.
    res = []
    for s in (12, 16, 20, 24, 28, 32, 40, 48):
        crops = [cv2.resize(cv2.resize(f, (s, s), interpolation=cv2.INTER_AREA), (48, 48)) for f in faces]
        acc = float((clf.predict_crops(crops).argmax(1) == labels).mean())
        res.append({"side_px": s, "accuracy": round(acc, 4)})
    out["resolution"] = res
    # Blur: Gaussian blur of the 48 px face; the sharpness the app measures on the crop.
    blur_rows, all_sharp, all_ok = [], [], []
    for sigma in (0.0, 0.5, 1.0, 1.5, 2.0, 3.0):
        crops = [f if sigma == 0 else cv2.GaussianBlur(f, (0, 0), sigma) for f in faces]
        ok = clf.predict_crops(crops).argmax(1) == labels
        sh = sharpness(crops)
        all_sharp.append(sh)
        all_ok.append(ok)
        blur_rows.append(
            {"sigma_px_of_48": sigma, "accuracy": round(float(ok.mean()), 4), "sharpness_median": round(float(np.median(sh)), 2)}
        )
    out["blur"] = blur_rows
    sh, ok = np.concatenate(all_sharp), np.concatenate(all_ok)
    out["sharpness_bins"] = _bins(sh, ok, [0, 5, 10, 20, 40, 80, 160, 1e9])
    # Turn: the keypoints' turn ratio of the faces the detector finds, app crop.
    fer = run_fer2013(detector, clf, faces, labels, plus)
    found = fer["_found"]
    correct = fer["_pred"]["box_10"][found] == labels[found]
    turn_edges = [0, 0.1, 0.2, 0.3, 0.45, 0.6, 0.8, 1e9]
    out["turn_bins"] = _bins(fer["_turn"][found], correct, turn_edges)
    out["turn_bins_keypoints"] = _bins(fer["_turn"][found], fer["_pred"]["keypoints"][found] == labels[found], turn_edges)
    out["sharpness_bins_detected"] = _bins(fer["_sharpness"][found], correct, [0, 5, 10, 20, 40, 80, 160, 1e9])
    return out


def _low_light(face: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    unit = (face.astype(np.float64) / 255.0) ** 2.0 * 0.45 + rng.normal(0, 0.03, face.shape)
    return np.clip(unit * 255.0, 0, 255).round().astype(np.uint8)


def _jpeg(face: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", face, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)


def _shift(face: np.ndarray, fraction: float) -> np.ndarray:
    m = np.float32([[1, 0, fraction * face.shape[1]], [0, 1, fraction * face.shape[0]]])
    return cv2.warpAffine(face, m, face.shape[::-1], borderMode=cv2.BORDER_REPLICATE)


DEGRADATIONS: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "clean": lambda f, _: f,
    "Gaussian blur, sigma 1 px": lambda f, _: cv2.GaussianBlur(f, (0, 0), 1.0),
    "JPEG quality 25": lambda f, _: _jpeg(f, 25),
    "low light (gamma 2, x0.45, noise 3%)": _low_light,
    "24 px face": lambda f, _: cv2.resize(cv2.resize(f, (24, 24), interpolation=cv2.INTER_AREA), (48, 48)),
    "off-centre by 15% (x and y)": lambda f, _: _shift(f, 0.15),
}
"""Synthetic webcam degradations of FER2013's 48x48 faces for ``robustness`` (the same
families as ``train_face.py --webcam-aug``, at fixed strengths)."""


def robustness(clf: FaceExpressionClassifier, data: Path, split: str) -> dict:
    """Accuracy of ``clf`` on one split under each of :data:`DEGRADATIONS` (seeded)."""
    faces, labels, _ = _split(data, split, None, 0)
    out = {"split": split, "n": int(len(faces))}
    for name, degrade in DEGRADATIONS.items():
        rng = np.random.default_rng(0)
        crops = [degrade(f, rng) for f in faces]
        out[name] = round(float((clf.predict_crops(crops).argmax(1) == labels).mean()), 4)
    return out


def _largest(faces):
    return max(faces, key=lambda f: f.area) if faces else None


def external(analyzer: FaceEmotionAnalyzer, labelled: list[Path], cmu: Path | None) -> dict:
    """Labelled photo folders and the CMU faces through ``analyze_photo``; see the module docstring."""
    out: dict = {}
    for folder in labelled:
        rows = []
        for label in EMOTIONS:
            for path in sorted(p for p in (folder / label).glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")):
                image = cv2.imread(str(path))
                if image is not None:
                    rows.append((label, _largest(analyzer.analyze_photo(image))))
        out[folder.name] = _summary(rows)
    if cmu is not None:
        poses, refs = {}, {}
        manifest = cmu.parent / "manifest.csv"
        for r in csv.DictReader(manifest.open()):
            poses[Path(r["path"]).name] = r["pose"]
            if r.get("face_box_xywh"):
                refs[Path(r["path"]).name] = [float(v) for v in r["face_box_xywh"].split()]
        by_pose: dict[str, list] = {}
        overlap: dict[str, list] = {}
        for path in sorted(cmu.glob("*.png")):
            label = path.stem.split("_")[2]
            face = _largest(analyzer.analyze_photo(cv2.imread(str(path))))
            pose = poses.get(path.name, "unknown")
            by_pose.setdefault(pose, []).append((label, face))
            if face is not None and path.name in refs:
                overlap.setdefault(pose, []).append(iou(face.box, refs[path.name]))
        out["cmu"] = {pose: _summary(rows) for pose, rows in sorted(by_pose.items())}
        for pose, values in overlap.items():
            out["cmu"][pose]["box_iou_median"] = round(float(np.median(values)), 3)
            out["cmu"][pose]["box_iou_n"] = len(values)
    return out


def _summary(rows: list) -> dict:
    found = [(label, f) for label, f in rows if f is not None]
    readable = [(label, f) for label, f in found if getattr(f, "readable", True)]
    res = {
        "n": len(rows),
        "found": len(found),
        "accuracy_found": round(float(np.mean([f.label == label for label, f in found])), 4) if found else None,
        "readable": len(readable),
        "accuracy_readable": round(float(np.mean([f.label == label for label, f in readable])), 4) if readable else None,
        "recall": {},
    }
    for label in [e for e in EMOTIONS if any(lab == e for lab, _ in rows)]:
        of = [f for lab, f in found if lab == label]
        res["recall"][label] = round(float(np.mean([f.label == label for f in of])), 4) if of else None
        res.setdefault("predicted", {})[label] = {
            e: sum(f.label == e for f in of) for e in EMOTIONS if any(f.label == e for f in of)
        }
    return res


EXTERNAL_ABOUT = (
    "Whole photos through `FaceEmotionAnalyzer.analyze_photo` (largest face), readability rule on. "
    "Neither set is in `../shared`, nor used for training or selection. "
    "**London set**: Face Research Lab London Set (DeBruine & Jones 2017, CC BY 4.0; debruine/webmorphR.stim @ fa8b78fd): "
    "102 adults photographed frontally in a studio, neutral (`*_03.jpg`) and smiling (`*_08.jpg`, mostly closed-mouth "
    "smiles), labelled neutral and happy. **CMU faces**: CMU Face Images (T. Mitchell, UCI KDD archive; "
    '"free of charge for any educational purpose": measured here, not redistributable), 128x120 grayscale, '
    "20 people, angry and neutral, pose judged by eye as frontal, three-quarter or profile. "
    "**Web set (licence unclear)**: muxspace/facial_expressions @ 5fb9c13a (the repository says Apache-2.0, but its "
    "photos are third-party web images), a seeded sample of up to 200 per label, all 7 labels (fear: 21); BlazeFace "
    "finds a face in few of them (many are small, tightly cropped faces); labels are noisy."
)
"""What the card says about the external sets."""


def update_card(card_path: Path, what: str, result: dict, command: str) -> None:
    """Store ``result`` in the model card's ``app_evaluation`` and re-render its Markdown."""
    from training.evaluate_face import render_markdown

    card = json.loads(card_path.read_text())
    app = card.setdefault("app_evaluation", {})
    model, detector = result["model"], result["detector"]
    if what == "fer2013":
        app["fer2013"] = {"model": model, "command": command, **{k: v for k, v in result.items() if k in SPLITS}}
        if "PublicTest" in result:
            r = result["PublicTest"]
            kp, box, wide = (r[k]["accuracy_found"] * 100 for k in ("keypoints", "box_10", "box_25"))
            app["crop_variants"] = {
                "model": model,
                "command": command,
                "PublicTest": r,
                "decision": (
                    f"Kept: the detector's box with a 10% margin, whose square is within "
                    f"{abs(r['box_10']['side_ratio_median'] - 1) * 100:.0f}% of FER2013's own. The keypoint square is "
                    f"{kp - box:+.1f} points on all faces found (within sampling noise) and lower on the most turned "
                    f"faces (turn table below); a 25% margin costs {box - wide:.1f} points."
                ),
            }
    elif what == "robustness":
        app["robustness"] = {"model": model, "command": command, **{k: v for k, v in result.items() if k in SPLITS}}
    elif what == "calibrate":
        app["calibration"] = {"model": model, "command": command, **{k: v for k, v in result.items() if k not in ("model",)}}
    else:
        ext = app.setdefault("external", {"about": EXTERNAL_ABOUT, "sets": {}, "detectors": {}})
        ext["about"] = EXTERNAL_ABOUT
        names = {"ccby_london_set": "London set (CC BY 4.0)", "unclear_muxspace": "web set (licence unclear)"}
        if "cmu" in result:
            ext["detectors"][detector] = result["cmu"]
        if detector == "blazeface_full_range":
            ext["command"] = command
            for key, r in result.items():
                if key == "cmu":
                    for pose, rr in r.items():
                        ext["sets"][f"CMU faces, {pose.replace('_', '-')}"] = rr
                elif isinstance(r, dict):
                    ext["sets"][names.get(key, key)] = r
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    card_path.with_suffix(".md").write_text(render_markdown(card))


def _public(d: dict) -> dict:
    return {k: v for k, v in d.items() if not k.startswith("_")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=("fer2013", "calibrate", "external", "robustness"))
    p.add_argument("--model", default=None, help="face model in models_onnx/ (default: the app's)")
    p.add_argument("--detector", default=None, help="detector (default: the app's)")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--splits", nargs="+", default=["PublicTest"], choices=list(SPLITS))
    p.add_argument("--limit", type=int, default=None, help="a seeded random subset of each split")
    p.add_argument(
        "--labelled", type=Path, action="append", default=[], help="a folder of photos in one subfolder per label (repeatable)"
    )
    p.add_argument("--cmu", type=Path, default=None)
    p.add_argument("--out", type=Path, default=None, help="also write the results as JSON")
    p.add_argument("--update-card", action="store_true", help="store the results in the face model's card")
    args = p.parse_args(argv)
    settings = Settings.from_env()
    if args.model:
        settings = settings.replace(face_model=args.model)
    if args.detector:
        settings = settings.replace(face_detector=args.detector)
    detector = build_detector(settings)
    clf = FaceExpressionClassifier(settings=settings)
    if args.what in ("fer2013", "calibrate", "robustness") and not args.data.is_file():
        p.error(f"data not found: {args.data} (see ../shared/data/README.md)")
    if args.what == "fer2013":
        result = {}
        for split in args.splits:
            faces, labels, plus = _split(args.data, split, args.limit, 0)
            result[split] = _public(run_fer2013(detector, clf, faces, labels, plus))
    elif args.what == "calibrate":
        result = calibrate(detector, clf, args.data, args.limit)
    elif args.what == "robustness":
        result = {split: robustness(clf, args.data, split) for split in args.splits}
    else:
        result = external(FaceEmotionAnalyzer(detector, clf, settings), args.labelled, args.cmu)
    result = {"model": clf.name, "detector": settings.face_detector, **result}
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    if args.update_card:
        command = "python training/evaluate_face_app.py " + " ".join(
            a if not a.startswith("/") else "DIR/" + Path(a).name for a in (argv if argv is not None else sys.argv[1:])
        )
        update_card(
            settings.model_path(settings.face_model).with_suffix(".json"),
            args.what,
            result,
            command.replace(" --update-card", ""),
        )
    return 0


if __name__ == "__main__":
    assert BlazeFaceDetector  # the default detector family
    sys.exit(main())
