"""What a metric is: its name, family, direction, unit, definition and empty-mask policy, and
for a metric over a set of cases (:class:`SetMetric`) how ranking computes it.

A :class:`MetricSpec` is plain data, so the evaluation layer can store it (``as_dict``) next to
the values it produced; a value is then never separated from the definition that made it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from medselect.casetable import REFERENCE, Direction


class Family(StrEnum):
    """The module a metric lives in."""

    OVERLAP = "overlap"
    SURFACE = "surface"
    LANDMARKS = "landmarks"
    CLASSIFICATION = "classification"
    REVIEW = "review"
    """Expert verdicts on predictions (from the store's reviews, never computed on images)."""


class Unit(StrEnum):
    """Unit of a metric's value. ``MM3`` becomes ``MM2`` on 2D images (see :meth:`unit_for`)."""

    MM = "mm"
    MM2 = "mm2"
    MM3 = "mm3"
    PERCENT = "%"
    NONE = "none"


class EmptyRule(StrEnum):
    """Symbolic outcomes of an empty-mask policy, for cases no fixed number describes."""

    FORMULA = "formula"
    """The definition itself gives a well-defined value (e.g. a volume difference of V_ref)."""
    IMAGE_DIAGONAL = "image_diagonal"
    """The diagonal of the image's field of view in mm (norm of shape x spacing): larger than
    any distance that can be measured inside the image, so the case ranks worst, yet finite,
    so means and confidence intervals stay usable."""
    NAN = "nan"
    """Undefined; the value is NaN."""


EmptyValue = float | EmptyRule


@dataclass(frozen=True)
class EmptyMaskPolicy:
    """The value a metric takes when one or both of its masks (or points) are empty.

    The rule throughout medselect: both empty means perfect agreement (the best value); exactly
    one empty means the worst value the metric can take, with :attr:`EmptyRule.IMAGE_DIAGONAL`
    standing in for "worst" for unbounded distances.
    """

    both_empty: EmptyValue
    pred_empty: EmptyValue
    ref_empty: EmptyValue

    def resolve(
        self, pred_empty: bool, ref_empty: bool, image_diagonal_mm: float | None = None
    ) -> float | None:
        """The policy's value for this emptiness, or None when the definition should be computed.

        Raises:
            ValueError: the policy needs ``image_diagonal_mm`` and it was not given.
        """
        if not (pred_empty or ref_empty):
            return None
        if pred_empty and ref_empty:
            rule = self.both_empty
        else:
            rule = self.pred_empty if pred_empty else self.ref_empty
        if rule == EmptyRule.FORMULA:
            return None
        if rule == EmptyRule.NAN:
            return math.nan
        if rule == EmptyRule.IMAGE_DIAGONAL:
            if image_diagonal_mm is None:
                raise ValueError("this empty-mask policy needs image_diagonal_mm; pass the "
                                 "image diagonal in mm (see medselect.metrics.image_diagonal_mm)")
            return float(image_diagonal_mm)
        return float(rule)

    def apply(
        self,
        pred_empty: bool,
        ref_empty: bool,
        compute: Callable[[], float],
        image_diagonal_mm: float | None = None,
    ) -> float:
        """The policy's value when it has one for this emptiness, else ``compute()``."""
        value = self.resolve(pred_empty, ref_empty, image_diagonal_mm)
        return float(compute()) if value is None else value

    def as_dict(self) -> dict[str, float | str]:
        """JSON-safe form: numbers stay numbers, rules become their names."""
        return {key: _dump(getattr(self, key)) for key in ("both_empty", "pred_empty", "ref_empty")}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EmptyMaskPolicy:
        """Inverse of :meth:`as_dict`."""
        return cls(**{key: _load(data[key]) for key in ("both_empty", "pred_empty", "ref_empty")})


def _dump(value: EmptyValue) -> float | str:
    return value.value if isinstance(value, EmptyRule) else float(value)


def _load(value: float | str) -> EmptyValue:
    return EmptyRule(value) if isinstance(value, str) else float(value)


@dataclass(frozen=True)
class MetricSpec:
    """Everything a reader of a metric value needs to interpret it.

    Args:
        name: the key used in the per-case table, e.g. ``"hd95"``.
        family: the module that computes it.
        direction: whether higher or lower is better.
        unit: unit of the value (``MM3`` reads ``MM2`` on 2D images).
        definition: one paragraph; says exactly what is computed, including conventions.
        empty: the empty-mask policy, or None where masks do not apply (classification).
        per_case: False for aggregates over many cases (AUC, ECE), which ranking computes.
    """

    name: str
    family: Family
    direction: Direction
    unit: Unit
    definition: str
    empty: EmptyMaskPolicy | None = None
    per_case: bool = True

    def unit_for(self, ndim: int) -> Unit:
        """The unit on an image of ``ndim`` dimensions: volumes are areas in 2D."""
        return Unit.MM2 if self.unit == Unit.MM3 and ndim == 2 else self.unit

    def apply_empty(
        self,
        pred_empty: bool,
        ref_empty: bool,
        compute: Callable[[], float],
        image_diagonal_mm: float | None = None,
    ) -> float:
        """:meth:`EmptyMaskPolicy.apply` with this metric's policy.

        Raises:
            TypeError: the metric has no empty-mask policy (it is not computed on masks).
        """
        if self.empty is None:
            raise TypeError(f"metric {self.name!r} has no empty-mask policy")
        return self.empty.apply(pred_empty, ref_empty, compute, image_diagonal_mm)

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form, to be stored with results."""
        return {
            "name": self.name,
            "family": self.family.value,
            "direction": self.direction.value,
            "unit": self.unit.value,
            "definition": self.definition,
            "empty": self.empty.as_dict() if self.empty else None,
            "per_case": self.per_case,
        }


@dataclass(frozen=True)
class SetMetric:
    """How ranking computes a metric defined over a set of cases.

    Args:
        spec: the metric's name, direction and definition.
        source: the per-case metric whose rows are its inputs.
        reduce: ``reduce(truth, values, weights)`` for many models and weighted copies of the
            cases at once: ``truth`` (n_cases,), ``values`` (n_cases, n_models), ``weights``
            (n_copies, n_cases) -> (n_copies, n_models); bootstrap counts as weights give
            every resample.
        one_vs_rest: ranked at label ``c``, ``truth`` is 1 where the case's reference class is
            ``c`` and 0 elsewhere; otherwise it is the reference class itself.
        truth: the case attribute holding each case's reference class; None for a metric of
            the values alone (``truth`` is then None too).
        missing: the input a missing one counts as when not one-vs-rest (a wrong answer;
            ranking counts a missing one-vs-rest probability as the wrong extreme); NaN: a
            missing input is left out (a prediction nobody reviewed).
        bounded: its values lie in [0, 1] and spread less near the bounds (an AUC near 1), so
            ranking builds its intervals on the logit scale.
        proportion: its value is a share of the cases that have an input (the reviewed
            predictions accepted), so ranking gives it the Wilson score interval over the
            patients with an input instead of a bootstrap interval (which is the point itself
            when every input agrees).
        absent: why there can be no value and what to do, said when the per-case table has
            no ``source`` row at all; None: the table's own "not in the table" message.
    """

    spec: MetricSpec
    source: str
    reduce: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    one_vs_rest: bool = True
    truth: str | None = REFERENCE
    missing: float = 0.0
    bounded: bool = True
    proportion: bool = False
    absent: str | None = None

    @property
    def name(self) -> str:
        return self.spec.name
