"""Calibrate the face model's probabilities and choose its ambiguity rule, through the app's own
detector and crop; check whether an ensemble of the shipped face models helps.

Data: FER2013 PublicTest (fit and selection) and PrivateTest (report only), from
``../shared/data/fer2013/fer2013_ferplus.npz``. Each 48x48 face is enlarged and framed as in
``training/evaluate_face_app.py`` (:func:`~training.evaluate_face_app.fer_frame`), the app's
:class:`~emotion.face.analyzer.FaceEmotionAnalyzer` finds it (BlazeFace), turns it upright and
crops it, and its readability rule judges it; faces the app would not read (not found, turned
away, too small, too blurred) are left out, as the app shows no label for them.

1. **Temperature scaling** (Guo et al. 2017): one T > 0 minimising the negative log-likelihood
   of the FER2013 labels on PublicTest; the expected calibration error (ECE, 15 equal-width
   bins of the top probability) before and after, on both splits.
2. **Ambiguity rule** (:class:`~emotion.face.ambiguity.AmbiguityRule`), on PublicTest's
   calibrated probabilities: ``top_below`` is the top probability at which faces are right about
   half the time (where the accuracy, fitted as a non-decreasing function of the top probability
   by isotonic regression, reaches 0.5), and ``margin_below`` likewise for the gap between the
   top two; the share of faces called ambiguous and the accuracy of those and of the others are
   reported on both splits.
3. **Ensemble check**: the mean of the calibrated probabilities of the shipped model and a
   second one (``--ensemble``, default ``fernet_ferplus``) on the same crops; kept only if
   it is more accurate on PublicTest (it also doubles the classification time per face).

    python training/calibrate_face.py                 # measure and print
    python training/calibrate_face.py --write         # also store T and the rule in the card
    python training/calibrate_face.py --limit 300     # a quick run (the CI smoke test)

Deterministic: no randomness (``--limit`` takes a seeded subset, ``--seed``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from emotion.config import Settings
from emotion.face.ambiguity import AmbiguityRule
from emotion.face.analyzer import FaceEmotionAnalyzer
from emotion.face.classify import FaceExpressionClassifier, calibrate
from training import metrics
from training.evaluate_face import DEFAULT_DATA, SPLITS, _split
from training.evaluate_face_app import fer_frame

ROOT = Path(__file__).resolve().parents[1]


def app_probabilities(analyzer: FaceEmotionAnalyzer, others: list[FaceExpressionClassifier], faces: np.ndarray):
    """Raw (uncalibrated) probabilities float64 [n, 7] of the app's model and of each of
    ``others`` on the app's crop of each face, and a mask bool [n] of the faces the app reads
    (found, and readable by its rule). Faces not read have rows of zeros."""
    n = len(faces)
    main = np.zeros((n, 7))
    extra = [np.zeros((n, 7)) for _ in others]
    read = np.zeros(n, bool)
    for i, face in enumerate(faces):
        found, crops, views = analyzer.find_faces(fer_frame(face))
        if len(crops) == 0:
            continue
        best = int(np.argmax(found.scores))  # the frame holds one face; the detector's best guess is it
        if views[best] is not None and not views[best].readable:
            continue
        read[i] = True
        main[i] = analyzer.classifier.predict_crops(crops[best : best + 1], calibrated=False)[0]
        for k, clf in enumerate(others):
            extra[k][i] = clf.predict_crops(crops[best : best + 1], calibrated=False)[0]
    return main, extra, read


def nll(p: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-likelihood of labels ``y`` [n] under probabilities ``p`` [n, 7]."""
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1.0))))


def fit_temperature(p: np.ndarray, y: np.ndarray) -> float:
    """The temperature minimising :func:`nll` of ``calibrate(p, T)`` (the log-probabilities as
    logits: :func:`training.metrics.fit_temperature`)."""
    return metrics.fit_temperature(np.log(np.clip(p, 1e-12, 1.0)), y)


def ece(p: np.ndarray, y: np.ndarray) -> float:
    """Expected calibration error of probabilities ``p`` [n, 7] against labels ``y``
    (:func:`training.metrics.top_label_ece`: 15 equal-width bins of the top probability)."""
    return metrics.top_label_ece(p, y)


def half_right_threshold(values: np.ndarray, correct: np.ndarray) -> float:
    """The value at which the faces become right about half the time: the accuracy as a
    non-decreasing function of ``values`` (isotonic regression of ``correct`` on them) first
    reaches 0.5 there (0 when it is above 0.5 everywhere)."""
    from sklearn.isotonic import IsotonicRegression

    order = np.argsort(values, kind="stable")
    v, c = values[order], correct[order].astype(np.float64)
    fitted = IsotonicRegression(increasing=True, out_of_bounds="clip").fit_transform(v, c)
    above = np.flatnonzero(fitted >= 0.5)
    if len(above) == 0:
        return float(round(v[-1] + 1e-4, 4))
    return float(round(v[above[0]], 4)) if above[0] > 0 else 0.0


def choose_rule(p: np.ndarray, y: np.ndarray) -> AmbiguityRule:
    """:class:`AmbiguityRule` from PublicTest's calibrated probabilities: the top probability and
    the gap between the top two below which the faces are right less than half the time (each
    by :func:`half_right_threshold`, over all faces)."""
    s = np.sort(p, 1)
    top, margin = s[:, -1], s[:, -1] - s[:, -2]
    correct = p.argmax(1) == y
    return AmbiguityRule(half_right_threshold(top, correct), half_right_threshold(margin, correct))


def rule_report(rule: AmbiguityRule, p: np.ndarray, y: np.ndarray) -> dict:
    """Share of faces the rule calls ambiguous, and the accuracy of those and of the others."""
    amb = np.array([rule.is_ambiguous(row) for row in p])
    correct = p.argmax(1) == y
    second = np.argsort(-p, 1)[:, 1]
    return {
        "faces": int(len(y)),
        "ambiguous_share": round(float(amb.mean()), 4),
        "accuracy_ambiguous": round(float(correct[amb].mean()), 4) if amb.any() else None,
        "accuracy_other": round(float(correct[~amb].mean()), 4) if (~amb).any() else None,
        # an ambiguous face's true label is one of the two shown this often
        "true_label_in_top_two_ambiguous": round(float(((p.argmax(1) == y) | (second == y))[amb].mean()), 4)
        if amb.any()
        else None,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--model", default="fernet", help="the app's face model (models_onnx/NAME.onnx)")
    ap.add_argument("--ensemble", default="fernet_ferplus", help="the second model of the ensemble check")
    ap.add_argument("--limit", type=int, default=None, help="faces per split (a seeded subset)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--write", action="store_true", help="store the temperature and the rule in the model's card")
    ap.add_argument("--out", type=Path, default=None, help="also write the result as JSON here")
    args = ap.parse_args(argv)
    if not args.data.exists():
        ap.error(f"{args.data} not found (FER2013 + FER+ npz of ../shared/data)")

    settings = Settings.from_env().model_copy(update={"face_model": args.model})
    analyzer = FaceEmotionAnalyzer(settings=settings)
    second = FaceExpressionClassifier(settings.model_path(args.ensemble), settings=settings)
    raw, others, reads = {}, {}, {}
    for split in SPLITS:
        faces, labels, _ = _split(args.data, split, args.limit, args.seed)
        main_p, (other_p,), read = app_probabilities(analyzer, [second], faces)
        raw[split], others[split], reads[split] = (main_p[read], labels[read]), other_p[read], read

    p_fit, y_fit = raw["PublicTest"]
    t_main = fit_temperature(p_fit, y_fit)
    t_other = fit_temperature(others["PublicTest"], y_fit)
    result: dict = {
        "model": args.model,
        "data": "FER2013 PublicTest (fit, selection) and PrivateTest (report), 48x48 faces enlarged 2x in a 192x192 "
        "frame, through the app's detector (BlazeFace), upright crop and readability rule; faces it does not read left out",
        "command": "python training/calibrate_face.py" + (f" --limit {args.limit}" if args.limit else "") + " --write",
        "temperature": round(t_main, 4),
    }
    cal = {s: calibrate(raw[s][0], t_main).astype(np.float64) for s in SPLITS}
    rule = choose_rule(cal["PublicTest"], y_fit)
    result["ambiguity"] = {"top_below": rule.top_below, "margin_below": rule.margin_below}
    for split in SPLITS:
        p, y = raw[split]
        result[split] = {
            "faces_read": int(len(y)),
            "faces": int(len(reads[split])),
            "accuracy": round(float((p.argmax(1) == y).mean()), 4),
            "nll_before": round(nll(p, y), 4),
            "nll_after": round(nll(cal[split], y), 4),
            "ece_before": round(ece(p, y), 4),
            "ece_after": round(ece(cal[split], y), 4),
            "ambiguity": rule_report(rule, cal[split], y),
        }
        ens = (cal[split] + calibrate(others[split], t_other)) / 2
        result[split]["ensemble"] = {
            "with": args.ensemble,
            "accuracy_second_alone": round(float((others[split].argmax(1) == y).mean()), 4),
            "accuracy_mean_of_both": round(float((ens.argmax(1) == y).mean()), 4),
        }
    gain = result["PublicTest"]["ensemble"]["accuracy_mean_of_both"] - result["PublicTest"]["accuracy"]
    result["ensemble_decision"] = (
        f"{'kept' if gain > 0.005 else 'not kept'}: the mean of {args.model} and {args.ensemble} is {gain * 100:+.1f} points "
        f"on PublicTest through the app's crop (kept only above +0.5), at twice the classification time per face"
    )
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    if args.write:
        card_path = ROOT / "models_onnx" / f"{args.model}.json"
        card = json.loads(card_path.read_text())
        card["probability_calibration"] = {
            "temperature": result["temperature"],
            "method": "temperature scaling (Guo et al. 2017) of the model's probabilities, softmax(log p / T)",
            "command": result["command"],
            "data": result["data"],
            **{s: {k: v for k, v in result[s].items() if k not in ("ambiguity", "ensemble")} for s in SPLITS},
        }
        card["ambiguity"] = {
            **result["ambiguity"],
            "rule": "ambiguous when the calibrated top probability is below top_below, or the top two are closer than "
            "margin_below; each threshold is where PublicTest's faces are right about half the time (isotonic fit of "
            "accuracy against the top probability, and against the gap)",
            **{s: result[s]["ambiguity"] for s in SPLITS},
        }
        card["ensemble_check"] = {
            "decision": result["ensemble_decision"],
            **{s: result[s]["ensemble"] | {"accuracy_alone": result[s]["accuracy"]} for s in SPLITS},
        }
        from training.evaluate_face import render_markdown

        card_path.write_text(json.dumps(card, indent=2) + "\n")
        card_path.with_suffix(".md").write_text(render_markdown(card))
        print(f"wrote {card_path} and {card_path.with_suffix('.md').name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
