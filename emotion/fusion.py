"""Late fusion of the modalities' emotion probabilities over the shared 7 labels.

Rule (default ``"log_linear"``): a weighted logarithmic opinion pool, i.e. a weighted
product of experts,

    p_fused(k)  ∝  Π_m  p_m(k) ^ (e_m / max_j e_j),     e_m = w_m · c_m

where ``w_m`` is the user's weight of modality m and ``c_m`` its confidence,
``1 − H(p_m) / log 7`` (1 for a one-hot vector, 0 for the uniform one). The most reliable
modality enters at full strength (alone, the result is that modality itself); a modality
that is absent (None) or uncertain (near-uniform) gets an exponent near 0 and so cannot drag
the result; confident modalities that agree reinforce each other (product of experts), and
in a conflict the more confident one wins. The alternative ``"linear"`` is the weighted
linear opinion pool ``Σ_m e_m p_m / Σ_m e_m``, which never becomes more confident than its
inputs.

Sources: Genest & Zidek (1986), "Combining probability distributions: a critique and an
annotated bibliography", Statistical Science 1(1) (linear and logarithmic opinion pools);
Hinton (2002), "Training products of experts by minimizing contrastive divergence", Neural
Computation 14(8) (product of experts).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .labels import NUM_EMOTIONS, LabelledProbabilities

RULES = ("log_linear", "linear")
_FLOOR = 1e-4  # probabilities are floored before logs so a single 0 cannot veto a label
_MIN_WEIGHT = 1e-6  # effective weights below this (a uniform vector, a weight of 0) take no part


def confidence(probabilities: np.ndarray) -> float:
    """``1 − H(p) / log 7`` of a probability vector (7,): 1 when certain, 0 when uniform."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64).reshape(NUM_EMOTIONS), 1e-12, 1.0)
    p = p / p.sum()
    return float(max(0.0, 1.0 - (-(p * np.log(p)).sum()) / np.log(NUM_EMOTIONS)))


@dataclass(frozen=True)
class FusedEstimate(LabelledProbabilities):
    """The fused emotion.

    Attributes:
        probabilities: float32 (7,), :data:`emotion.labels.EMOTIONS` order, sums to 1.
        weights: the effective weight ``e_m = w_m · c_m`` of each modality that took part.
    """

    probabilities: np.ndarray
    weights: dict[str, float]

    @property
    def confidence(self) -> float:
        """Probability of :attr:`label`, in 0..1 (the same as :attr:`score`)."""
        return self.score


def fuse(
    modalities: Mapping[str, np.ndarray | None],
    weights: Mapping[str, float] | None = None,
    rule: str = "log_linear",
) -> FusedEstimate | None:
    """Fuse per-modality probability vectors (7,) into one estimate.

    Args:
        modalities: name (e.g. ``"face"``, ``"voice"``, ``"words"``) -> probabilities, or None
            when that modality has nothing now.
        weights: user weights >= 0 per name (missing names weigh 1; 0 switches a modality off).
        rule: ``"log_linear"`` (weighted product of experts) or ``"linear"`` (weighted mean).

    Returns:
        The fused estimate, or None when no modality has a positive effective weight.

    Raises:
        ValueError: unknown rule, a negative weight, or a vector that is not 7 non-negative numbers.
    """
    if rule not in RULES:
        raise ValueError(f"unknown fusion rule {rule!r}; expected one of {RULES}")
    weights = weights or {}
    vectors, effective = [], {}
    for name, p in modalities.items():
        if p is None:
            continue
        w = float(weights.get(name, 1.0))
        if w < 0:
            raise ValueError(f"weight of {name!r} must be >= 0, got {w}")
        v = np.asarray(p, dtype=np.float64).reshape(-1)
        if v.shape != (NUM_EMOTIONS,) or (v < 0).any() or not np.isfinite(v).all() or v.sum() <= 0:
            raise ValueError(f"{name!r} must be {NUM_EMOTIONS} non-negative probabilities, got {p!r}")
        v = v / v.sum()
        e = w * confidence(v)
        if e > _MIN_WEIGHT:
            vectors.append(v)
            effective[name] = e
    if not effective:
        return None
    w = np.array(list(effective.values()))
    stack = np.stack(vectors)
    if rule == "linear":
        fused = (w[:, None] * stack).sum(0) / w.sum()
    else:
        logits = ((w / w.max())[:, None] * np.log(np.maximum(stack, _FLOOR))).sum(0)
        fused = np.exp(logits - logits.max())
    fused = fused / fused.sum()
    return FusedEstimate(fused.astype(np.float32), {k: round(v, 4) for k, v in effective.items()})


def average_over_span(times: np.ndarray, probabilities: np.ndarray, start_s: float, end_s: float) -> np.ndarray | None:
    """Mean of the probability rows whose time lies in ``[start_s, end_s]`` (seconds), e.g. the
    face probabilities during one utterance; None when no row does.

    ``times`` float [n] seconds; ``probabilities`` float [n, 7]. Returns float32 (7,).
    """
    t = np.asarray(times, dtype=np.float64)
    inside = (t >= start_s) & (t <= end_s)
    if not inside.any():
        return None
    mean = np.asarray(probabilities, dtype=np.float64).reshape(len(t), NUM_EMOTIONS)[inside].mean(0)
    return (mean / mean.sum()).astype(np.float32)
