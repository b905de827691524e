"""The neutral-share measurement of issue 26 (training/neutral_levers.py) on hand-made rows:
its figures and its keep rule, without models or data."""

import numpy as np
import pytest

pytest.importorskip("scipy")

from emotion.labels import EMOTIONS  # noqa: E402
from training.neutral_levers import decide, kind_offsets, neutral_figures  # noqa: E402
from training.text_corpora import TextRow  # noqa: E402

N = EMOTIONS.index("neutral")
H = EMOTIONS.index("happy")


def rows(labels, dataset="meld"):
    return [TextRow(f"s{i}", "", lab, (lab,), dataset) for i, lab in enumerate(labels)]


def logp(preds):
    z = np.full((len(preds), 7), -5.0)
    z[np.arange(len(preds)), preds] = 0.0
    return z - np.log(np.exp(z).sum(1, keepdims=True))


def test_neutral_share_counts_emotional_rows_read_as_neutral():
    r = rows([H, H, H, H, N, N])
    got = neutral_figures(r, logp([N, N, H, H, N, H]))
    assert got["n_emotional"] == 4
    assert got["neutral_share"] == 0.5
    assert got["neutral_recall"] == 0.5


def test_carer_has_no_neutral_recall_but_a_neutral_share():
    r = rows([H, H, EMOTIONS.index("sad")], "carer")
    got = neutral_figures(r, logp([N, H, N]))
    assert "neutral_recall" not in got
    assert got["neutral_share"] == pytest.approx(2 / 3, abs=1e-4)


def test_typed_offset_is_chosen_on_typed_sets_only():
    carer = rows([H] * 10, "carer")
    meld = rows([N] * 10, "meld")
    lp = np.log(np.tile([0.05, 0.05, 0.05, 0.3, 0.05, 0.05, 0.45], (10, 1)))
    got = kind_offsets({"carer": carer, "meld": meld}, {"carer": lp, "meld": lp})
    assert got["typed"] < 0  # carer's emotional rows pull neutral down
    assert got["conversation"] == 0.0  # meld is all neutral and already right: the offset nearest 0


def _per(share, recall, head):
    return {"neutral_share": share, "neutral_recall": recall, "headline": head}


def _report(left, **levers):
    return {"left_out": left, "levers": {k: {"dev": v} for k, v in levers.items()}}


def test_a_lever_that_costs_dialogue_neutral_recall_is_not_kept():
    reports = [
        _report("meld", **{"as trained": _per(0.4, 0.8, 0.5), "cheap": _per(0.1, 0.6, 0.5), "fair": _per(0.35, 0.78, 0.5)}),
        _report(
            "goemotions_ekman", **{"as trained": _per(0.6, 0.9, 0.5), "cheap": _per(0.2, 0.5, 0.5), "fair": _per(0.5, 0.85, 0.5)}
        ),
    ]
    d = decide(reports, [])
    assert not d["candidates"]["cheap"]["passes"]  # meld's neutral recall falls 20 points
    assert d["candidates"]["fair"]["passes"]
    assert d["kept"] == "fair"
