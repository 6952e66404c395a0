"""What a candidate must show to be promoted, independent of how it was written down.

:class:`GateCriteria` is the gate's own frozen view of the experiment file's ``promotion:``
section (:class:`medselect.config.promotion.PromotionSpec`); :meth:`GateCriteria.from_spec`
converts one, so the gate can be called and tested without any YAML. Margins are in the
metric's unit and are never negative: "better by at least ``margin``" for the primary metric,
"worse by at most ``margin``" for a guard. Which way is better comes from the metric.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from medselect.config.choices import choice_error
from medselect.config.promotion import GateBounds
from medselect.errors import ConfigError
from medselect.metrics.values import MEAN_LABEL
from medselect.rank import MIN_RELIABLE_PATIENTS, PairedTest
from medselect.registry.budget import AlphaSpending, Look, budget_after

__all__ = ["CompareWith", "GateCriteria", "MetricMargin"]


class CompareWith(StrEnum):
    """Which registered versions a candidate must beat."""

    CHAMPION = "champion"
    """Only the current champion of the scope."""
    ALL_VERSIONS = "all_versions"
    """The champion and every earlier champion, so quality never drifts below an old one."""


@dataclass(frozen=True)
class MetricMargin:
    """A metric at one label, and a margin in the metric's unit (never negative)."""

    metric: str
    label: str = MEAN_LABEL
    margin: float = 0.0


@dataclass(frozen=True)
class GateCriteria:
    """The acceptance criteria of a promotion.

    Args:
        primary: the candidate's mean improvement on this metric must exceed its margin.
        test: ``bootstrap`` (one-sided cluster-bootstrap test of the mean improvement against
            the margin, patients resampled) or ``wilcoxon`` (one-sided signed-rank test of the
            patients' mean improvements against the margin).
        alpha: the scope's one-sided false-promotion rate over all looks at its reference set,
            at most 0.5; each look runs at its share (``alpha_spending``).
        confidence: level of every reported bootstrap interval (two-sided), at least 0.5.
        guards: metrics on which the candidate may be worse by at most their margin.
        site_margin: largest allowed mean loss on the primary metric at any one site; None
            skips the per-site check.
        min_patients: fewest patients the comparison may rest on.
        compare_with: the versions the candidate is compared with.
        alpha_spending, max_looks: how alpha is split across looks at one reference set
            (:mod:`medselect.registry.budget`).
        n_resamples, seed: bootstrap size and seed (the same seed gives the same decision).

    Raises:
        ConfigError: a value is out of range; the message names the field.
    """

    primary: MetricMargin
    test: PairedTest = PairedTest.BOOTSTRAP
    alpha: float = 0.05
    confidence: float = 0.95
    guards: tuple[MetricMargin, ...] = field(default=())
    site_margin: float | None = None
    min_patients: int = MIN_RELIABLE_PATIENTS
    compare_with: CompareWith = CompareWith.ALL_VERSIONS
    alpha_spending: AlphaSpending = AlphaSpending.GEOMETRIC
    max_looks: int = 10
    n_resamples: int = 1000
    seed: int = 0

    def __post_init__(self) -> None:
        for name, enum in (("test", PairedTest), ("compare_with", CompareWith),
                           ("alpha_spending", AlphaSpending)):
            value = getattr(self, name)
            try:
                object.__setattr__(self, name, enum(str(value).strip().lower()))
            except ValueError:
                raise ConfigError(f"promotion.{name}: {choice_error(enum, value)}") from None
        object.__setattr__(self, "guards", tuple(self.guards))
        for where, item in (("primary", self.primary),
                            *((f"guards[{i}]", g) for i, g in enumerate(self.guards))):
            if not item.metric:
                raise ConfigError(f"promotion.{where}.metric: name the metric to judge on")
            if not item.margin >= 0:
                raise ConfigError(f"promotion.{where}.margin must be zero or positive (it says "
                                  f"how much, the metric says which way), got {item.margin}")
        GateBounds.check(alpha=self.alpha, confidence=self.confidence,
                         site_margin=self.site_margin, min_patients=self.min_patients,
                         max_looks=self.max_looks)
        if self.n_resamples < 1:
            raise ConfigError(f"promotion.n_resamples must be at least 1, got "
                              f"{self.n_resamples}")

    def look(self, looks_before: int = 0, *, chosen_from: int = 1,
             chosen_on: str | None = None) -> Look:
        """The level of a look at a reference set that has had ``looks_before`` looks in the
        scope, for a candidate picked from ``chosen_from`` models on it (1: named before)."""
        budget = budget_after(looks_before, self.alpha, self.alpha_spending, self.max_looks)
        return Look(budget, max(1, chosen_from), chosen_on)

    @property
    def metrics(self) -> tuple[str, ...]:
        """Every metric the gate reads, primary first, without repeats."""
        return tuple(dict.fromkeys([self.primary.metric, *(g.metric for g in self.guards)]))

    @classmethod
    def from_spec(cls, spec: Any, *, metric: str | None = None, seed: int = 0,
                  n_resamples: int = 1000) -> GateCriteria:
        """Criteria from a ``promotion:`` section (any object with PromotionSpec's attributes).

        Args:
            spec: a :class:`~medselect.config.promotion.PromotionSpec`.
            metric: the primary metric when the section leaves it out (the ranking metric).

        Raises:
            ConfigError: the section names no primary metric and ``metric`` is None, or a
                value is out of range.
        """
        primary = spec.primary
        name = primary.metric or metric
        if not name:
            raise ConfigError("promotion.primary.metric is not set and no ranking metric was "
                              "given; name the metric the gate judges on")
        return cls(
            primary=MetricMargin(name, primary.label or MEAN_LABEL, float(primary.margin)),
            test=spec.test,
            alpha=spec.alpha,
            confidence=spec.confidence,
            guards=tuple(MetricMargin(g.metric, g.label or MEAN_LABEL, float(g.margin))
                         for g in spec.guards),
            site_margin=spec.site_margin,
            min_patients=spec.min_patients,
            compare_with=spec.compare_with,
            alpha_spending=spec.alpha_spending,
            max_looks=spec.max_looks,
            n_resamples=n_resamples,
            seed=seed,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (stored with every decision)."""
        out = asdict(self)
        out["test"], out["compare_with"] = self.test.value, self.compare_with.value
        out["alpha_spending"] = self.alpha_spending.value
        out["guards"] = [asdict(g) for g in self.guards]
        return out
