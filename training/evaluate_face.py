"""Measure a face-expression ONNX model on FER2013 PublicTest and PrivateTest.

Data: ``../shared/data/fer2013/fer2013_ferplus.npz`` (see that folder's README).
Each 48x48 crop is used whole, through the app's own preprocessing
(:func:`emotion.face.classify.preprocess_crops`) and classifier, against two label
schemes: the original FER2013 labels (every face), and the FER+ majority vote (faces
whose most-voted FER+ label is one of the 7 emotions, not contempt, unknown or not a
face). Prints accuracy, per-class recall and the confusion matrix of both splits;
``--update-card`` stores them in the model's JSON card and re-renders its Markdown card.

    python training/evaluate_face.py [--model fernet] [--update-card]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from emotion.config import Settings  # noqa: E402
from emotion.face.classify import FaceExpressionClassifier  # noqa: E402
from emotion.labels import EMOTIONS, ferplus_majority  # noqa: E402
from training.metrics import confusion, format_matrix  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "fer2013" / "fer2013_ferplus.npz"
SPLITS = {"PublicTest": 1, "PrivateTest": 2}


def _split(data: Path, split: str, limit: int | None, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Faces uint8 [n, 48, 48], original labels int [n] and FER+ majority labels int [n] (-1
    where the most-voted FER+ label is none of the 7 emotions, or there are no votes: the
    votes are zero where ``has_ferplus`` is False) of one split, read in one pass."""
    with np.load(data) as d:
        idx = np.flatnonzero(d["usage"] == SPLITS[split])
        if limit is not None and limit < len(idx):
            idx = np.sort(np.random.default_rng(seed).choice(idx, size=limit, replace=False))
        return d["pixels"][idx], d["emotion"][idx].astype(np.int64), ferplus_majority(d["ferplus_votes"][idx])


def load_split(
    data: Path, split: str, limit: int | None = None, seed: int = 0, ferplus: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Faces uint8 [n, 48, 48] and labels int [n] of one FER2013 split: the original labels,
    or with ``ferplus`` the FER+ majority label (-1 where it is none of the 7 emotions).

    ``limit`` takes a seeded random subset of that size (sorted by row)."""
    faces, labels, plus = _split(data, split, limit, seed)
    return faces, (plus if ferplus else labels)


def predict(clf: FaceExpressionClassifier, faces: np.ndarray, batch: int = 256) -> np.ndarray:
    """Probabilities [n, 7] for uint8 faces [n, h, w], in batches."""
    return np.concatenate([clf.predict_crops(list(faces[i : i + batch])) for i in range(0, len(faces), batch)])


def evaluate(clf: FaceExpressionClassifier, data: Path) -> dict:
    results = {}
    for split in SPLITS:
        faces, labels, plus = _split(data, split, None, 0)
        pred = predict(clf, faces).argmax(1)
        m = confusion(labels, pred)
        recall = (np.diag(m) / np.maximum(m.sum(1), 1)).round(4)
        keep = plus >= 0
        results[split] = {
            "n": int(len(labels)),
            "accuracy": round(float((pred == labels).mean()), 4),
            "recall": dict(zip(EMOTIONS, map(float, recall), strict=True)),
            "confusion": m.tolist(),
            "ferplus_n": int(keep.sum()),
            "ferplus_accuracy": round(float((pred[keep] == plus[keep]).mean()), 4),
        }
    return results


def _source_lines(card: dict) -> list[str]:
    src = card["source"]
    if "training" in card:  # trained by this project (training/train_face.py)
        tr, ex = card["training"], card["export"]
        tta, passes = card["test_time_augmentation"], card["passes_per_face"]
        chain = tr.get("warm_start_from", [])
        bias = card.get("class_bias")
        lines = [
            "## Architecture",
            f"{card['architecture']}.",
            "",
            f"Multiply-adds per pass: {card['macs'] / 1e6:.1f} M (about {2 * card['macs'] / 1e6:.0f} M FLOPs); "
            f"passes per face: {passes}.",
            f"Test-time augmentation: {tta}.",
            *(
                [
                    f"Class offsets: {bias['what']}; b = {', '.join(f'{e} {v:+.3f}' for e, v in zip(card['labels'], bias['log_offsets'], strict=True))}."
                ]
                if bias
                else []
            ),
            "",
            "## Training",
            f"- data: {src['trained_on']}; labels: {src['labels_used']}",
            f"- command: `{tr['command']}` (seed {tr['seed']}, resumable from `--out`)",
            *(
                [f"- warm restarts: the command above started from `{chain[-1]['checkpoint']}`; in order, the runs:"]
                + [f"  {i}. `{step['its_command']}` ({step['its_epochs']} epochs)" for i, step in enumerate(chain, 1)]
                + [f"  {len(chain) + 1}. the command above ({tr['epochs']} epochs)"]
                if chain
                else []
            ),
            *([f"- {tr['note']}"] if tr.get("note") else []),
            f"- {tr['epochs']} epochs, batch {tr['batch']}; {tr['optimiser']}; {tr['loss']}",
            f"- augmentation: {tr['augmentation']}; EMA of weights, decay {tr['ema_decay']}",
            f"- selected: epoch {tr['best']['epoch']} ({tr['best']['weights']} weights), PublicTest {tr['best']['acc'] * 100:.2f}%",
            f"- curves: [{tr['curves']}](../{tr['curves']})",
            f"- licence: {card['licence']}",
            "",
            "## Export",
            f"- `{ex['command']}`, opset {ex['opset']}; ONNX vs PyTorch max |diff| {ex['onnx_vs_pytorch_max_abs_diff']:.2g}"
            " (softmax outputs, 256 PublicTest faces)",
        ]
        lat = card.get("latency")
        if lat:
            lines += [
                "",
                "## Latency",
                f"{lat['what']}: one face {lat['batch_1']['median_ms_per_face']} ms median "
                f"(p95 {lat['batch_1']['p95_ms_per_face']} ms); in a batch of 8, {lat['batch_8']['median_ms_per_face']} ms per face.",
            ]
        return lines
    lines = [
        "## Source and licence",
        f"- weights: `{src['file']}` from `{src['package']}` (sha256 `{src['sha256']}`), saved by Keras {src['keras_version']}",
        f"- model: {src['paper']}; trained on {src['trained_on']}",
        f"- licence: {card['licence']}",
        f"- conversion: `{card['conversion']['command']}` (h5py + onnx helpers, no TensorFlow), opset {card['conversion']['opset']}",
        "",
        "## Conversion checks",
    ]
    for k, v in card["conversion"]["checks"].items():
        lines.append(f"- {k}: {v:.3g}")
    return lines


def wilson_interval(correct: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion ``correct / n`` (scipy's)."""
    from scipy.stats import binomtest

    ci = binomtest(correct, n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def _history_lines(history: dict, private: dict) -> list[str]:
    """How often PrivateTest was looked at before this model was chosen, and the interval of its figure."""
    correct, n = int(np.trace(np.array(private["confusion"]))), int(private["n"])
    lo, hi = wilson_interval(correct, n)
    lines = [
        "## PrivateTest: how often it was looked at",
        history["summary"],
        "",
        "| model scored on PrivateTest, in order | PrivateTest (FER2013 labels) |",
        "|---|---|",
    ]
    lines += [f"| {m['model']} | {m['accuracy'] * 100:.2f}% |" for m in history["scored"]]
    lines += [
        "",
        f"95% interval of this model's {correct / n * 100:.2f}% ({correct:,} of {n:,} faces right): "
        f"{lo * 100:.2f}% to {hi * 100:.2f}% (Wilson score interval for a binomial proportion).",
        "",
        f"Selection caveat: {history['caveat']}",
    ]
    return lines


def _pct(v) -> str:
    return "–" if v is None else f"{v * 100:.1f}%"


def _app_lines(app: dict) -> list[str]:
    """The card's section on the app's own path (``training/evaluate_face_app.py``)."""
    lines = ["", "## Measured through the app's detector and crop", ""]
    lines += [
        "`training/evaluate_face_app.py` runs each face the way the app does: BlazeFace (full range) on the image, "
        "the most confident box squared with a 10% margin, the face turned upright by its eye line, cropped, "
        "classified. FER2013's 48x48 faces are enlarged 2x and set in a 192x192 frame filled with their border's "
        "mean, so the original square is known.",
        "",
    ]
    fer = app.get("fer2013")
    if fer:
        lines += [
            f"FER2013 through the detector ({fer['model']}; `{fer['command']}`):",
            "",
            "| split | faces | found by BlazeFace | accuracy on the faces found, app crop | the same faces, whole 48x48 crop | "
            "FER+ majority, app crop | app crop side / FER2013 square (median) |",
            "|---|---|---|---|---|---|---|",
        ]
        for split in SPLITS:
            r = fer.get(split)
            if r:
                v = r["box_10"]
                lines.append(
                    f"| {split} | {r['n']} | {r['found']} ({_pct(r['found_rate'])}) | {_pct(v['accuracy_found'])} | "
                    f"{_pct(r['whole_crop_accuracy_found'])} | {_pct(v['ferplus_accuracy_found'])} | {v['side_ratio_median']:.2f} |"
                )
        lines += ["", "Per-class recall on the faces found, app crop:", "", "| split | " + " | ".join(EMOTIONS) + " |"]
        lines.append("|---" * (len(EMOTIONS) + 1) + "|")
        for split in SPLITS:
            if split in fer:
                lines.append(f"| {split} | " + " | ".join(_pct(fer[split]["box_10"]["recall"][e]) for e in EMOTIONS) + " |")
    variants = app.get("crop_variants")
    if variants:
        r = variants["PublicTest"]
        lines += [
            "",
            f"Crop variants, chosen on PublicTest ({variants['model']}, {r['found']} faces found; `{variants['command']}`):",
            "",
            "| crop | accuracy on the faces found | crop side / FER2013 square | centre offset (x, y), of the side |",
            "|---|---|---|---|",
        ]
        names = {
            "box_10": "detector box, squared, 10% margin (the app's)",
            "box_25": "detector box, squared, 25% margin",
            "keypoints": "square from the keypoints (2.63 eye-to-mouth distances, centred 0.26 of the way from eyes to mouth)",
        }
        for key, name in names.items():
            v = r[key]
            lines.append(
                f"| {name} | {_pct(v['accuracy_found'])} | {v['side_ratio_median']:.2f} | "
                f"{v['centre_dx_median']:+.3f}, {v['centre_dy_median']:+.3f} |"
            )
        lines += ["", variants["decision"]]
    rob = app.get("robustness")
    if rob and "PublicTest" in rob:
        names = [k for k in rob["PublicTest"] if k not in ("split", "n")]
        prev = rob.get("previous")
        lines += [
            "",
            f"Synthetic webcam degradations of PublicTest's whole 48x48 faces (`{rob['command']}`):",
            "",
            "| model | " + " | ".join(names) + " |",
            "|---" * (len(names) + 1) + "|",
            f"| {rob['model']} (this file) | " + " | ".join(_pct(rob["PublicTest"][k]) for k in names) + " |",
        ]
        if prev:
            lines.append(f"| {prev['model']} | " + " | ".join(_pct(prev["PublicTest"].get(k)) for k in names) + " |")
    cal = app.get("calibration")
    if cal:
        lines += [
            "",
            f"### Faces that cannot be read: the rule's calibration (PublicTest, {cal['model']}; `{cal['command']}`)",
            "",
            "A face is reported as turned away, too small or too blurred (no label) where accuracy falls to about 50% "
            "(`emotion/face/quality.py`)." + (f" {cal['note']}" if cal.get("note") else ""),
            "",
            "| face side (px) | " + " | ".join(str(r["side_px"]) for r in cal["resolution"]) + " |",
            "|---" * (len(cal["resolution"]) + 1) + "|",
            "| accuracy | " + " | ".join(_pct(r["accuracy"]) for r in cal["resolution"]) + " |",
            "",
            "| Gaussian blur (sigma, px of 48) | " + " | ".join(f"{r['sigma_px_of_48']:g}" for r in cal["blur"]) + " |",
            "|---" * (len(cal["blur"]) + 1) + "|",
            "| accuracy | " + " | ".join(_pct(r["accuracy"]) for r in cal["blur"]) + " |",
            "| sharpness (median) | " + " | ".join(f"{r['sharpness_median']:.0f}" for r in cal["blur"]) + " |",
            "",
            "| sharpness (all blur levels pooled) | " + " | ".join(_range(r) for r in cal["sharpness_bins"]) + " |",
            "|---" * (len(cal["sharpness_bins"]) + 1) + "|",
            "| faces | " + " | ".join(str(r["n"]) for r in cal["sharpness_bins"]) + " |",
            "| accuracy | " + " | ".join(_pct(r["accuracy"]) for r in cal["sharpness_bins"]) + " |",
            "",
            "| turn ratio (faces found) | " + " | ".join(_range(r) for r in cal["turn_bins"]) + " |",
            "|---" * (len(cal["turn_bins"]) + 1) + "|",
            "| faces | " + " | ".join(str(r["n"]) for r in cal["turn_bins"]) + " |",
            "| accuracy, app crop | " + " | ".join(_pct(r["accuracy"]) for r in cal["turn_bins"]) + " |",
            "| accuracy, keypoint square | " + " | ".join(_pct(r["accuracy"]) for r in cal["turn_bins_keypoints"]) + " |",
        ]
    ext = app.get("external")
    if ext:
        lines += ["", "### Faces outside FER2013", "", ext["about"], ""]
        lines += [
            "| set | photos | faces found | expression not read | accuracy (faces read) | recall |",
            "|---|---|---|---|---|---|",
        ]
        for name, r in ext["sets"].items():
            recall = ", ".join(f"{e} {_pct(v)}" for e, v in r["recall"].items())
            lines.append(
                f"| {name} | {r['n']} | {r['found']} | {r['found'] - r['readable']} | {_pct(r['accuracy_readable'])} | {recall} |"
            )
        if ext.get("detectors"):
            lines += [
                "",
                "BlazeFace full range against short range on the CMU faces (faces found / photos; faces the rule "
                "calls turned away; median IoU of the box with a reference box from OpenCV's frontal and profile "
                "cascades, checked by eye):",
                "",
                "| pose | " + " | ".join(ext["detectors"]) + " |",
                "|---" * (len(ext["detectors"]) + 1) + "|",
            ]
            poses = next(iter(ext["detectors"].values())).keys()
            for pose in poses:
                cells = [
                    f"{d[pose]['found']}/{d[pose]['n']} found, {d[pose]['found'] - d[pose]['readable']} turned away, "
                    f"box IoU {d[pose].get('box_iou_median', float('nan')):.2f} (n={d[pose].get('box_iou_n', 0)})"
                    for d in ext["detectors"].values()
                ]
                lines.append(f"| {pose} | " + " | ".join(cells) + " |")
    return lines


def _range(r: dict) -> str:
    return f"{r['from']:g}+" if r["to"] >= 1e8 else f"{r['from']:g}–{r['to']:g}"


def render_markdown(card: dict) -> str:
    """The human-readable model card, from the JSON card."""
    inp, out = card["input"], card["output"]
    side = inp["shape"][2]
    lines = [
        f"# Model card: {card['name']}",
        "",
        f"Task: {card['task']}. Parameters: {card['parameters']:,}.",
        "",
        *([f"Status: {card['status']}", ""] if card.get("status") else []),
        "## Labels (output order)",
        ", ".join(f"{i} {e}" for i, e in enumerate(card["labels"])),
        "",
        "## Input and preprocessing",
        f"- input `{inp['name']}`: {inp['dtype']} {inp['shape']} ({inp['layout']})",
        f"- output `{out['name']}`: {out['dtype']} {out['shape']}, softmax probabilities",
        f"- preprocessing: {card['preprocessing']}",
        "- in the app: the detector's box (BlazeFace by default), squared around its centre with a 10% margin per side, "
        f"border-replicated where it leaves the image, resized to {side}x{side} (`emotion/face/classify.py`)",
        "",
        *_source_lines(card),
    ]
    ev = card.get("evaluation")
    if ev:
        lines += [
            "",
            "## Measured accuracy (whole 48x48 crop)",
            f"Command: `{ev['command']}`. Data: `{ev['data']}`. FER+ majority: faces whose most-voted FER+ label "
            "is one of the 7 emotions.",
            "",
            "| split | faces | accuracy, FER2013 labels | faces (FER+) | accuracy, FER+ majority |",
            "|---|---|---|---|---|",
        ]
        for split in SPLITS:
            r = ev[split]
            plus = f"{r['ferplus_n']} | {r['ferplus_accuracy'] * 100:.2f}%" if "ferplus_accuracy" in r else "– | –"
            lines.append(f"| {split} | {r['n']} | {r['accuracy'] * 100:.2f}% | {plus} |")
        lines += [
            "",
            "Per-class recall (FER2013 labels):",
            "",
            "| split | " + " | ".join(EMOTIONS) + " |",
            "|---" * (len(EMOTIONS) + 1) + "|",
        ]
        for split in SPLITS:
            lines.append(f"| {split} | " + " | ".join(f"{ev[split]['recall'][e] * 100:.1f}%" for e in EMOTIONS) + " |")
        lines += [
            "",
            "PrivateTest confusion matrix (FER2013 labels; rows true, columns predicted):",
            "",
            "```",
            format_matrix(np.array(ev["PrivateTest"]["confusion"])),
            "```",
        ]
    history = card.get("privatetest_history")
    if history and ev:
        lines += ["", *_history_lines(history, ev["PrivateTest"])]
    if card.get("app_evaluation"):
        lines += _app_lines(card["app_evaluation"])
    lines += _certainty_lines(card)
    bench = card.get("benchmark")
    if bench:
        lines += ["", "## Latency in the app", f"Command: `{bench['command']}` ({bench['machine']}).", ""]
        lines += [f"- {k}: {v}" for k, v in bench["figures"].items()]
    return "\n".join(lines) + "\n"


def _certainty_lines(card: dict) -> list[str]:
    """The card's calibration, ambiguity rule and ensemble check (``training/calibrate_face.py``)."""
    cal, amb, ens = card.get("probability_calibration"), card.get("ambiguity"), card.get("ensemble_check")
    lines = []
    if cal:
        lines += [
            "",
            "## Calibration of the probabilities (the app's detector and crop)",
            f"Command: `{cal['command']}`. Data: {cal['data']}. Method: {cal['method']}; T = {cal['temperature']} "
            "(fitted on PublicTest; the app applies it). ECE: 15 equal-width bins of the top probability.",
            "",
            "| split | faces read / all | accuracy | NLL before → after | ECE before → after |",
            "|---|---|---|---|---|",
        ]
        for split in SPLITS:
            r = cal[split]
            lines.append(
                f"| {split} | {r['faces_read']} / {r['faces']} | {r['accuracy'] * 100:.1f}% | "
                f"{r['nll_before']:.4f} → {r['nll_after']:.4f} | {r['ece_before']:.4f} → {r['ece_after']:.4f} |"
            )
    if amb:
        lines += [
            "",
            "## Ambiguous faces",
            f"Rule: {amb['rule']}. Thresholds: top probability below {amb['top_below']:.2f}, or a gap between the top two "
            f'below {amb["margin_below"]:.2f}. The pages then show both labels ("sad or angry? 56% / 20%") and fusion gives '
            "the face half its weight.",
            "",
            "| split | faces read | called ambiguous | accuracy, ambiguous | accuracy, others | true label among the two shown (ambiguous) |",
            "|---|---|---|---|---|---|",
        ]
        for split in SPLITS:
            r = amb[split]
            lines.append(
                f"| {split} | {r['faces']} | {r['ambiguous_share'] * 100:.1f}% | {r['accuracy_ambiguous'] * 100:.1f}% | "
                f"{r['accuracy_other'] * 100:.1f}% | {r['true_label_in_top_two_ambiguous'] * 100:.1f}% |"
            )
    if ens:
        lines += ["", "## Ensemble check", f"Decision: {ens['decision']}.", ""]
        lines += ["| split | this model | second model alone | mean of both |", "|---|---|---|---|"]
        for split in SPLITS:
            r = ens[split]
            lines.append(
                f"| {split} ({r['with']}) | {r['accuracy_alone'] * 100:.1f}% | {r['accuracy_second_alone'] * 100:.1f}% | "
                f"{r['accuracy_mean_of_both'] * 100:.1f}% |"
            )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="fernet", help="model name in models_onnx/ (fernet, fernet_ferplus, mini_xception)")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--update-card", action="store_true", help="write the results into the model card")
    args = ap.parse_args()
    if not args.data.exists():
        raise SystemExit(f"FER2013 data not found at {args.data} (see ../shared/data/README.md)")

    settings = Settings.from_env()
    clf = FaceExpressionClassifier(settings.model_path(args.model), settings=settings)
    results = evaluate(clf, args.data)
    for split, r in results.items():
        print(
            f"{args.model} {split}: accuracy {r['accuracy'] * 100:.2f}% on {r['n']} faces (FER2013 labels), "
            f"{r['ferplus_accuracy'] * 100:.2f}% on {r['ferplus_n']} (FER+ majority)"
        )
        print("  recall: " + ", ".join(f"{e} {v * 100:.1f}%" for e, v in r["recall"].items()))
        print(format_matrix(np.array(r["confusion"])))
        print()
    if args.update_card:
        card_path = settings.model_path(args.model).with_suffix(".json")
        card = json.loads(card_path.read_text())
        card["evaluation"] = {
            "command": f"python training/evaluate_face.py --model {args.model}",
            "data": "../shared/data/fer2013/fer2013_ferplus.npz",
            **results,
        }
        card_path.write_text(json.dumps(card, indent=2) + "\n")
        card_path.with_suffix(".md").write_text(render_markdown(card))
        print(f"updated {card_path} and {card_path.with_suffix('.md')}")


if __name__ == "__main__":
    main()
