"""Late fusion of the modalities' emotion probabilities over the shared 7 labels.

Rule (default ``"linear"``), in words a person can follow:

1. Each modality that has something now says its own label (its most probable emotion) and
   gets an effective weight ``e_m = w_m · c_m``: the user's weight ``w_m`` times the
   modality's certainty ``c_m = 1 − H(p_m) / log 7`` (:func:`certainty`) (1 for a one-hot vector, 0 for the
   uniform one). A modality that is absent (None), switched off (weight 0) or uncertain
   (near-uniform) takes no part.
2. The fused probabilities are the weighted mean of the modalities' probabilities (the
   weighted linear opinion pool ``Σ_m e_m p_m / Σ_m e_m``): never more confident than its
   inputs.
3. The fused label is chosen among the labels the modalities said: the one with the highest
   fused probability. A label that no modality chose is never the result (two modalities that
   both rank "angry" second cannot crown it).

The alternative ``"log_linear"`` is the weighted logarithmic opinion pool (a product of
experts), ``p(k) ∝ Π_m p_m(k) ^ (e_m / max_j e_j)``: agreeing modalities reinforce each other
and the result can be more confident than any input; step 3 applies to it too.

Sources: Genest & Zidek (1986), "Combining probability distributions: a critique and an
annotated bibliography", Statistical Science 1(1) (linear and logarithmic opinion pools);
Hinton (2002), "Training products of experts by minimizing contrastive divergence", Neural
Computation 14(8) (product of experts).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from .face.ambiguity import AmbiguityRule
from .frozen import FrozenResult
from .labels import EMOTIONS, NUM_EMOTIONS, LabelledProbabilities

RULES = ("linear", "log_linear")
DEFAULT_RULE = "linear"
UNCERTAIN_ACOUSTIC_WEIGHT = 0.25
"""Factor on the voice's weight when its model calls the utterance uncertain (its calibrated top
probability is below the card's ``uncertain_below``): it still counts, at a quarter of its say."""
AMBIGUOUS_FACE_WEIGHT = 0.5
"""Factor on the face's weight when its top two labels are a toss-up (the face model's
:class:`~emotion.face.ambiguity.AmbiguityRule`, on the face's probabilities over the span): it
counts at half its say."""
_FLOOR = 1e-4  # probabilities are floored before logs so a single 0 cannot veto a label
_MIN_WEIGHT = 1e-6  # effective weights below this (a uniform vector, a weight of 0) take no part


def certainty(probabilities: np.ndarray) -> float:
    """``1 − H(p) / log 7`` of a probability vector (7,), its normalised-entropy certainty: 1 when
    one-hot, 0 when uniform. (A result's ``score`` is something else: its top probability.)"""
    p = np.clip(np.asarray(probabilities, dtype=np.float64).reshape(NUM_EMOTIONS), 1e-12, 1.0)
    p = p / p.sum()
    return float(max(0.0, 1.0 - (-(p * np.log(p)).sum()) / np.log(NUM_EMOTIONS)))


@dataclass(frozen=True, eq=False)
class FusedEstimate(FrozenResult, LabelledProbabilities):
    """The fused emotion.

    Attributes:
        probabilities: float32 (7,), :data:`emotion.labels.EMOTIONS` order, sums to 1.
        weights: the effective weight ``e_m = w_m · c_m`` of each modality that took part.
        face_id: the tracked face whose expression took part (:func:`fuse_utterance`), or None.
        inputs: the normalised probabilities float32 (7,) of each modality that took part, by
            name (what each modality said).
        label_index: index of the fused label in :data:`~emotion.labels.EMOTIONS`: among the
            labels the modalities said, the one with the highest fused probability (None: the
            most probable label, e.g. for an estimate built by hand).
        face_ambiguous: the face took part at reduced weight, a toss-up between its top two labels
            (:func:`fuse_modalities`).
    """

    probabilities: np.ndarray
    weights: dict[str, float]
    face_id: int | None = None
    inputs: dict[str, np.ndarray] = field(default_factory=dict, compare=False)
    label_index: int | None = None
    face_ambiguous: bool = False

    @property
    def label(self) -> str:
        """The fused emotion: one of the labels the modalities said (see the module's rule)."""
        if self.label_index is None:
            return super().label
        return EMOTIONS[self.label_index]

    @property
    def score(self) -> float:
        """Fused probability of :attr:`label`, in 0..1."""
        if self.label_index is None:
            return super().score
        return float(self.probabilities[self.label_index])

    def shares(self) -> dict[str, float]:
        """Each modality's share of the total effective weight, in 0..1 (sums to 1)."""
        total = sum(self.weights.values())
        return {name: (w / total if total > 0 else 0.0) for name, w in self.weights.items()}

    def says(self) -> dict[str, tuple[str, float]]:
        """What each modality that took part said: name -> (its label, its probability)."""
        return {name: (EMOTIONS[int(np.argmax(p))], float(np.max(p))) for name, p in self.inputs.items()}


def fuse(
    modalities: Mapping[str, np.ndarray | None],
    weights: Mapping[str, float] | None = None,
    rule: str = DEFAULT_RULE,
) -> FusedEstimate | None:
    """Fuse per-modality probability vectors (7,) into one estimate.

    Args:
        modalities: name (:data:`emotion.schema.MODALITIES`: ``"face"``, ``"semantic"``,
            ``"acoustic"``; any other name fuses too) -> probabilities, or None
            when that modality has nothing now.
        weights: user weights >= 0 per name (missing names weigh 1; 0 switches a modality off).
        rule: ``"linear"`` (weighted mean, the default) or ``"log_linear"`` (weighted product
            of experts); either way the label is one a modality said (see the module's rule).

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
        e = w * certainty(v)
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
    fused = (fused / fused.sum()).astype(np.float32)
    said = sorted({int(np.argmax(v)) for v in vectors})
    chosen = max(said, key=lambda k: (fused[k], -k))
    inputs = {name: v.astype(np.float32) for name, v in zip(effective, vectors, strict=True)}
    return FusedEstimate(fused, {k: round(v, 4) for k, v in effective.items()}, inputs=inputs, label_index=chosen)


@dataclass(frozen=True, eq=False)
class FaceSample(FrozenResult):
    """One tracked face in one analysed frame, on the media clock.

    Attributes:
        t_s: media time (s) of the frame; face_id: the track's ID; area: box area in pixels²;
        probabilities: float32 (7,) smoothed expression probabilities.
    """

    t_s: float
    face_id: int
    area: int
    probabilities: np.ndarray


def face_samples(t_s: float, faces: Iterable) -> list[FaceSample]:
    """:class:`FaceSample` objects of the tracked faces (:class:`~emotion.face.track.TrackedFace`) of one frame at ``t_s``;
    faces whose expression cannot be read (turned away, too small, too blurred) give none."""
    return [FaceSample(float(t_s), f.face_id, f.area, f.probabilities) for f in faces if getattr(f, "readable", True)]


def face_over_span(samples: Sequence[FaceSample], start_s: float, end_s: float) -> tuple[int, np.ndarray] | None:
    """The face followed over ``[start_s, end_s]`` (seconds) and its mean probabilities float32 (7,).

    Rule (the same for live sessions and video files): among the faces seen in the span, the one
    seen in the most analysed frames (the person on screen while the words were said); ties go to
    the larger mean box, then the lower ID. None when no face was seen in the span.
    """
    by_id: dict[int, list[FaceSample]] = {}
    for s in samples:
        if start_s <= s.t_s <= end_s:
            by_id.setdefault(s.face_id, []).append(s)
    if not by_id:
        return None
    face_id, seen = max(by_id.items(), key=lambda kv: (len(kv[1]), np.mean([s.area for s in kv[1]]), -kv[0]))
    mean = np.mean([np.asarray(s.probabilities, np.float64) for s in seen], axis=0)
    return face_id, (mean / mean.sum()).astype(np.float32)


def fuse_modalities(
    face: tuple[int, np.ndarray] | None,
    semantic: np.ndarray | None,
    acoustic: np.ndarray | None,
    weights: Mapping[str, float] | None = None,
    rule: str = DEFAULT_RULE,
    acoustic_uncertain: bool = False,
    face_ambiguity: AmbiguityRule | None = None,
) -> FusedEstimate | None:
    """:func:`fuse` of a followed face ((face ID, probabilities (7,)) as :func:`face_over_span`
    gives it, or None), the words (``semantic`` (7,)) and the voice (``acoustic`` (7,)); the
    result names the face when it took part. An uncertain voice (``acoustic_uncertain``) enters
    with its weight times :data:`UNCERTAIN_ACOUSTIC_WEIGHT`; a face that ``face_ambiguity`` (the
    face model's :class:`~emotion.face.ambiguity.AmbiguityRule`, or None for none) calls ambiguous
    with its weight times :data:`AMBIGUOUS_FACE_WEIGHT`."""
    face_ambiguous = face is not None and face_ambiguity is not None and face_ambiguity.is_ambiguous(face[1])
    if acoustic_uncertain or face_ambiguous:
        weights = {**(weights or {})}
    if acoustic_uncertain:
        weights["acoustic"] = float(weights.get("acoustic", 1.0)) * UNCERTAIN_ACOUSTIC_WEIGHT
    if face_ambiguous:
        weights["face"] = float(weights.get("face", 1.0)) * AMBIGUOUS_FACE_WEIGHT
    fused = fuse({"face": None if face is None else face[1], "semantic": semantic, "acoustic": acoustic}, weights, rule)
    if fused is None or face is None or "face" not in fused.weights:
        return fused
    return replace(fused, face_id=face[0], face_ambiguous=bool(face_ambiguous))


def fuse_utterance(
    utterance,
    faces: Sequence[FaceSample],
    weights: Mapping[str, float] | None = None,
    rule: str = DEFAULT_RULE,
    face_ambiguity: AmbiguityRule | None = None,
) -> FusedEstimate | None:
    """The fused emotion of one utterance (:class:`~emotion.speech.analyzer.Utterance`): the face
    followed over its span (:func:`face_over_span`; at reduced weight when ``face_ambiguity``, the
    face model's :class:`~emotion.face.ambiguity.AmbiguityRule`, calls its mean ambiguous) + its
    words (semantic) + its voice (acoustic, at reduced weight when uncertain), by :func:`fuse`.
    Used by the live session and by video files alike; ``faces`` and the utterance are on the
    same media clock.

    Returns None when no modality has anything (see :func:`fuse`).
    """
    face = face_over_span(faces, utterance.start_s, utterance.end_s)
    uncertain = bool(getattr(utterance, "acoustic_uncertain", False))
    return fuse_modalities(face, utterance.semantic, utterance.acoustic, weights, rule, uncertain, face_ambiguity)
