"""What the gate says: one result per criterion and incumbent, and the decision over them.

Both are plain frozen data with a JSON-safe ``to_dict()``: the registry stores a decision's
dict as a version's evidence, and the decision report renders it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from medselect.jsonsafe import json_number
from medselect.registry.budget import Look
from medselect.registry.criteria import GateCriteria

__all__ = ["CriterionResult", "GateDecision", "Look"]


@dataclass(frozen=True)
class CriterionResult:
    """One check of the gate against one incumbent (or, for ``min_patients`` and
    ``budget``, none).

    Attributes:
        name: ``primary``, ``guard``, ``site``, ``min_patients`` or ``budget`` (the reference
            set's error budget is spent).
        statistic: the mean improvement of the candidate (positive is better); for
            ``min_patients`` the number of patients.
        ci: bootstrap interval of the mean improvement at the criteria's confidence.
        p_value: one-sided p-value of "improvement above the threshold" by the chosen test.
        threshold: the margin the improvement must exceed; for ``site`` and
            ``min_patients`` what the statistic must at least reach.
        level: the level ``p_value`` had to be below (this look's share of alpha).
        explanation: one sentence a reviewer can read without the rest.
    """

    name: str
    passed: bool
    explanation: str
    incumbent: str | None = None
    metric: str | None = None
    label: str | None = None
    site: str | None = None
    n_cases: int | None = None
    n_patients: int | None = None
    statistic: float | None = None
    ci: tuple[float, float] | None = None
    p_value: float | None = None
    threshold: float | None = None
    level: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ci"] = None if self.ci is None else [_finite(v) for v in self.ci]
        for key in ("statistic", "p_value", "threshold", "level"):
            out[key] = _finite(out[key])
        return out


@dataclass(frozen=True)
class GateDecision:
    """The gate's verdict on one candidate, with every figure behind it.

    ``data`` holds the data versions the caller recorded (reference case set and its content
    hash, dataset and evaluation ids); ``look`` the level the tests ran at and why;
    ``notes`` say what was imputed or skipped.
    """

    candidate: str
    incumbents: tuple[str, ...]
    accepted: bool
    n_cases: int
    n_patients: int
    results: tuple[CriterionResult, ...]
    criteria: GateCriteria
    directions: Mapping[str, str]
    look: Look
    data: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def failed(self) -> tuple[CriterionResult, ...]:
        return tuple(r for r in self.results if not r.passed)

    @property
    def summary(self) -> str:
        """One sentence: the verdict and the first reason against it."""
        if self.accepted:
            against = f" against {', '.join(self.incumbents)}" if self.incumbents else ""
            return (f"{self.candidate} is accepted: all {len(self.results)} criteria pass "
                    f"on {self.n_patients} patients ({self.n_cases} cases){against}")
        first = self.failed[0]
        more = f" (and {len(self.failed) - 1} more failed criteria)" if len(self.failed) > 1 else ""
        return f"{self.candidate} is rejected: {first.explanation}{more}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form: what the registry stores as evidence and the report shows."""
        return {
            "candidate": self.candidate,
            "incumbents": list(self.incumbents),
            "accepted": self.accepted,
            "summary": self.summary,
            "n_cases": self.n_cases,
            "n_patients": self.n_patients,
            "look": self.look.to_dict(),
            "criteria": self.criteria.to_dict(),
            "directions": dict(self.directions),
            "results": [r.to_dict() for r in self.results],
            "data": dict(self.data),
            "notes": list(self.notes),
        }


def _finite(value: float | None) -> float | None:
    return None if value is None else json_number(float(value))
