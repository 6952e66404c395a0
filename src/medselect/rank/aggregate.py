"""Aggregates: many per-case values of a model -> one number that ranks it.

An aggregate reduces the cases axis (-2) of an array shaped ``(..., n_cases, n_models)``, so one
call aggregates every model and, with a leading axis, every bootstrap resample. Built-ins are
named by strings: ``mean``, ``median``, ``trimmed<NN>`` (NN % cut each side; ``trimmed`` is
``trimmed10``) and ``p<NN>`` (the NN-th percentile, e.g. ``p10`` of Dice: "how bad is a bad
case"; percentiles are of the raw values, so for a lower-is-better metric a bad case is
``p90``). Aggregate-only metrics (AUC, calibration error) plug in as a :class:`CaseFunction`
that receives the true class from a case attribute.

The built-ins also reduce *weighted* cases (``weighted(values, weights)``): a cluster bootstrap
resample is a whole-number weight per case, and the result equals the aggregate of the cases
repeated that often (:mod:`medselect.rank.weighted`).

Example::

    >>> parse_aggregate("p10")(np.array([[0.5], [0.9], [0.7]]))
    array([0.54])
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np
from scipy import stats

from medselect.config.choices import did_you_mean
from medselect.errors import RankingError
from medselect.rank.table import ScoreMatrix
from medselect.rank.weighted import weighted_percentile, weighted_trimmed_mean

__all__ = [
    "Aggregate",
    "CaseFunction",
    "Mean",
    "Median",
    "Percentile",
    "TrimmedMean",
    "parse_aggregate",
    "truth_values",
]

_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"


@runtime_checkable
class Aggregate(Protocol):
    """Per-case values -> one value per model.

    ``__call__(values, truth)`` reduces axis -2 of ``values`` (..., n_cases, n_models) to
    (..., n_models). ``truth`` names the case attribute an aggregate needs besides the values
    (e.g. ``"y_true"`` for AUC); it then arrives as an array (..., n_cases), resampled together
    with the cases. None for aggregates of the values alone.
    """

    @property
    def name(self) -> str: ...

    @property
    def truth(self) -> str | None: ...

    def __call__(self, values: np.ndarray, truth: np.ndarray | None = None) -> np.ndarray: ...


@dataclass(frozen=True)
class Mean:
    """Arithmetic mean over cases."""

    name: ClassVar[str] = "mean"
    truth: ClassVar[None] = None

    def __call__(self, values: np.ndarray, truth: np.ndarray | None = None) -> np.ndarray:
        return values.mean(axis=-2)

    def weighted(self, values: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return weights @ values / weights.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class Median:
    """Median over cases."""

    name: ClassVar[str] = "median"
    truth: ClassVar[None] = None

    def __call__(self, values: np.ndarray, truth: np.ndarray | None = None) -> np.ndarray:
        return np.median(values, axis=-2)

    def weighted(self, values: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return weighted_percentile(values, weights, 50.0)


@dataclass(frozen=True)
class TrimmedMean:
    """Mean after cutting ``proportion`` of the cases at each end (scipy.stats.trim_mean)."""

    proportion: float = 0.1
    truth: ClassVar[None] = None

    def __post_init__(self) -> None:
        if not 0 <= self.proportion < 0.5:
            raise RankingError(f"a trimmed mean cuts less than half at each end, got "
                               f"proportion {self.proportion}")

    @property
    def name(self) -> str:
        """``trimmed10`` for the default: the share cut is always spelled out, so a page or a
        report never shows a different name than the one asked for."""
        return f"trimmed{100 * self.proportion:g}"

    def __call__(self, values: np.ndarray, truth: np.ndarray | None = None) -> np.ndarray:
        return np.asarray(stats.trim_mean(values, self.proportion, axis=-2))

    def weighted(self, values: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return weighted_trimmed_mean(values, weights, self.proportion)


@dataclass(frozen=True)
class Percentile:
    """The ``q``-th percentile over cases (numpy's linear interpolation)."""

    q: float
    truth: ClassVar[None] = None

    def __post_init__(self) -> None:
        if not 0 <= self.q <= 100:
            raise RankingError(f"a percentile is between 0 and 100, got p{self.q:g}")

    @property
    def name(self) -> str:
        return f"p{self.q:g}"

    def __call__(self, values: np.ndarray, truth: np.ndarray | None = None) -> np.ndarray:
        return np.percentile(values, self.q, axis=-2)

    def weighted(self, values: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return weighted_percentile(values, weights, self.q)


@dataclass(frozen=True)
class CaseFunction:
    """Wrap a plain function of one model's per-case values as an :class:`Aggregate`.

    ``fn(values) -> float``, or ``fn(truth_values, values) -> float`` (scikit-learn's
    ``y_true, y_score`` order) when ``truth`` names a case attribute, e.g. an AUC. It is called
    once per model and resample, so it is slower than the vectorised built-ins.
    """

    name: str
    fn: Callable[..., float]
    truth: str | None = None

    def __call__(self, values: np.ndarray, truth: np.ndarray | None = None) -> np.ndarray:
        if self.truth is not None and truth is None:
            raise RankingError(f"aggregate {self.name!r} needs the case attribute "
                               f"{self.truth!r} and none was given")
        lead, (n_cases, n_models) = values.shape[:-2], values.shape[-2:]
        flat = values.reshape(-1, n_cases, n_models)
        flat_truth = None if truth is None else np.reshape(truth, (-1, n_cases))
        out = np.empty((flat.shape[0], n_models))
        for r, block in enumerate(flat):
            for j in range(n_models):
                out[r, j] = (self.fn(block[:, j]) if self.truth is None
                             else self.fn(flat_truth[r], block[:, j]))
        return out.reshape(*lead, n_models)


def truth_values(matrix: ScoreMatrix, aggregate: Aggregate) -> np.ndarray | None:
    """The per-case values of the case attribute ``aggregate`` needs, or None.

    Raises:
        RankingError: the per-case table has no such attribute.
    """
    if aggregate.truth is None:
        return None
    if aggregate.truth not in matrix.attributes.columns:
        raise RankingError(f"aggregate {aggregate.name!r} needs the case attribute "
                           f"{aggregate.truth!r}; the per-case table has attributes "
                           f"{list(matrix.attributes.columns)}")
    truth = matrix.attributes[aggregate.truth].to_numpy()
    if getattr(aggregate, "one_vs_rest", False):  # a set metric of one class against the rest
        return (truth.astype(str) == matrix.label).astype(int)
    return truth


def parse_aggregate(
    spec: str | Aggregate, custom: Mapping[str, Aggregate] | None = None
) -> Aggregate:
    """The aggregate a name stands for, or ``spec`` itself when it is already an aggregate.

    Args:
        spec: ``mean``, ``median``, ``trimmed``, ``trimmed<NN>``, ``p<NN>``, a key of
            ``custom``, or an :class:`Aggregate`.
        custom: further named aggregates (e.g. ``{"auc": CaseFunction("auc", ...)}``).

    Raises:
        RankingError: an unknown name; the message lists the known ones.
    """
    if not isinstance(spec, str):
        if isinstance(spec, Aggregate):
            return spec
        raise RankingError(f"an aggregate is a name or an Aggregate, got {type(spec).__name__}")
    custom = {key.lower(): value for key, value in (custom or {}).items()}
    name = spec.strip().lower()
    if name in custom:
        return custom[name]
    if name == "mean":
        return Mean()
    if name == "median":
        return Median()
    if name == "trimmed":
        return TrimmedMean()
    if match := re.fullmatch(rf"trimmed{_NUMBER}", name):
        return TrimmedMean(float(match[1]) / 100)
    if match := re.fullmatch(rf"p{_NUMBER}", name):
        return Percentile(float(match[1]))
    known = ["mean", "median", "trimmed", *custom]
    raise RankingError(f"unknown aggregate {spec!r}; {did_you_mean(name, known)}use one of: "
                       f"{', '.join(known)}, trimmed<NN> (NN % cut each side) or p<NN> (NN-th "
                       "percentile)")
