"""Immutable, comparable results: the base of the frozen dataclasses that hold NumPy arrays
(:class:`~emotion.face.analyzer.FaceEmotion`, :class:`~emotion.speech.analyzer.Utterance`,
:class:`~emotion.fusion.FusedEstimate`, ...).

A plain frozen dataclass with an array field raises on ``==`` ("the truth value of an array
is ambiguous") and lets ``result.probabilities[0] = 1`` change a result in place. A
:class:`FrozenResult` keeps a read-only copy of every array it is given (also inside tuples,
lists and dict values), and compares and hashes by value: two results are equal when every
compared field is, arrays element by element (:func:`numpy.array_equal`).

Subclasses are declared ``@dataclass(frozen=True, eq=False)`` (``eq=False`` keeps this class's
``__eq__`` and ``__hash__``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np


def read_only(value):
    """``value`` with every ndarray in it (also in tuples, lists and dict values) replaced by a
    read-only copy; lists become tuples. Other values are returned as they are."""
    if isinstance(value, np.ndarray):
        if not value.flags.writeable and value.base is None:
            return value
        copy = np.array(value, copy=True)
        copy.setflags(write=False)
        return copy
    if isinstance(value, (tuple, list)):
        return tuple(read_only(v) for v in value)
    if isinstance(value, dict):
        return {k: read_only(v) for k, v in value.items()}
    return value


def _key(value):
    """A hashable stand-in for ``value``, equal exactly when the values are equal."""
    if isinstance(value, np.ndarray):
        return ("ndarray", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, (tuple, list)):
        return tuple(_key(v) for v in value)
    if isinstance(value, Mapping):
        return tuple(sorted((k, _key(v)) for k, v in value.items()))
    if isinstance(value, float) and value != value:  # NaN equals NaN here, as in array_equal(equal_nan)
        return ("nan",)
    return value


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)) or a.shape != b.shape:
            return False
        return bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f" and b.dtype.kind == "f"))
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return _key(a) == _key(b)


class FrozenResult:
    """Base of the frozen result dataclasses: read-only arrays, equality and hash by value."""

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            frozen = read_only(value)
            if frozen is not value:
                object.__setattr__(self, f.name, frozen)

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(_same(getattr(self, f.name), getattr(other, f.name)) for f in dataclasses.fields(self) if f.compare)

    def __hash__(self):
        return hash(tuple(_key(getattr(self, f.name)) for f in dataclasses.fields(self) if f.compare))
