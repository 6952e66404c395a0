"""The experiment file's ``ranking:`` section: what to rank by and how sure to be.

The small grammars of this section (constraints such as ``"dice >= 0.8 on p10"`` and tie-breaks
such as ``"fewer_parameters"``) are parsed here, so a typo is caught while the YAML is loaded;
``medselect.rank`` turns a :class:`RankingSpec` into its calls and reuses these parsers for the
same strings given on the command line.

Example::

    ranking:
      metric: dice
      aggregate: p10          # "how bad is a bad case"
      unit: case              # or patient: average each patient's cases first
      by: [site]
      tie_break: [fewer_parameters, "metric:hd95"]
      constraints: ["hd95 <= 5", "dice >= 0.8 on p10"]
      equivalence: {dice: 0.02}   # margins: "the same" means closer than this
      selection: {case_set: val}  # which cases choose; or {folds: 5, final: ensemble}
      confirmation: test          # which cases report the chosen model's figures
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from medselect.config.run import FinalModel

__all__ = [
    "COLUMN_TIE_BREAKS",
    "Constraint",
    "RankingSpec",
    "SelectionSpec",
    "TieBreak",
    "parse_constraint",
    "parse_tie_break",
]

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_CONSTRAINT = re.compile(
    rf"^\s*(?P<metric>[A-Za-z_][\w.-]*)(?::(?P<label>[\w.-]+))?\s*(?P<op><=|>=|<|>)\s*"
    rf"(?P<threshold>{_NUMBER})\s*(?:\bon\s+(?P<aggregate>[\w.]+))?\s*$"
)
_OPS = {"<=": float.__le__, ">=": float.__ge__, "<": float.__lt__, ">": float.__gt__}

COLUMN_TIE_BREAKS: dict[str, tuple[str, bool]] = {
    "fewer_parameters": ("parameters", True),
    "faster_inference": ("inference_seconds", True),
}
"""Named tie-breaks: name -> (column of the per-model attribute table, lower is better)."""


@dataclass(frozen=True)
class Constraint:
    """A hard limit a model must meet to be ranked, e.g. ``hd95 <= 5`` on the mean.

    ``label`` None means the ranking's own label; ``aggregate`` is an aggregate name that
    ``medselect.rank`` resolves (``mean``, ``median``, ``p10``, ...).
    """

    metric: str
    op: str
    threshold: float
    aggregate: str = "mean"
    label: str | None = None

    def holds(self, value: float) -> bool:
        """Whether an aggregate ``value`` meets the limit (NaN never does)."""
        return _OPS[self.op](float(value), self.threshold)

    def __str__(self) -> str:
        metric = f"{self.metric}:{self.label}" if self.label else self.metric
        return f"{metric} {self.op} {self.threshold:g} on {self.aggregate}"


def parse_constraint(text: str) -> Constraint:
    """Parse ``"<metric>[:<label>] <op> <number> [on <aggregate>]"``.

    Raises:
        ValueError: the text does not follow that form; the message shows the form.
    """
    match = _CONSTRAINT.match(str(text))
    if match is None:
        raise ValueError(
            f"constraint {text!r} is not of the form '<metric>[:<label>] <op> <number> "
            "[on <aggregate>]' with op one of <=, >=, <, >; e.g. 'hd95 <= 5' or "
            "'dice >= 0.8 on p10'"
        )
    return Constraint(
        metric=match["metric"],
        op=match["op"],
        threshold=float(match["threshold"]),
        aggregate=match["aggregate"] or "mean",
        label=match["label"],
    )


@dataclass(frozen=True)
class TieBreak:
    """One criterion that chooses among models the statistics cannot tell apart.

    Either a column of the per-model attribute table (``column`` set, ``lower_is_better``
    saying which way) or a secondary metric (``metric`` set, its direction known to ranking).
    """

    text: str
    column: str | None = None
    lower_is_better: bool = True
    metric: str | None = None


def parse_tie_break(text: str) -> TieBreak:
    """Parse a tie-break: ``fewer_parameters``, ``faster_inference``, ``metric:<name>``,
    ``min:<column>`` or ``max:<column>`` (a column of the per-model attribute table).

    Raises:
        ValueError: an unknown name; the message lists the accepted forms.
    """
    name = str(text).strip()
    if name in COLUMN_TIE_BREAKS:
        column, lower = COLUMN_TIE_BREAKS[name]
        return TieBreak(text=name, column=column, lower_is_better=lower)
    kind, sep, key = name.partition(":")
    if sep and key.strip():
        key = key.strip()
        if kind == "metric":
            return TieBreak(text=name, metric=key)
        if kind in ("min", "max"):
            return TieBreak(text=name, column=key, lower_is_better=kind == "min")
    raise ValueError(
        f"unknown tie-break {text!r}; use one of: {', '.join(COLUMN_TIE_BREAKS)}, "
        "metric:<name>, min:<column>, max:<column>"
    )


class SelectionSpec(BaseModel):
    """Which cases *choose* the model. Kept apart from the cases that confirm it: a figure of
    a model chosen on the same cases that report it is biased upwards (the winner's curse).

    ``case_set`` is ``val`` (the validation split, default), ``test``, ``reference`` or a
    stored case set id; with ``folds`` the choice is made by patient-level, site-stratified
    K-fold cross-validation over train + val instead (folds drawn with ``seed``), and the
    chosen configuration becomes the model ``final`` says: its fold ``ensemble`` (default) or
    one run ``refit`` on all of train + val.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    case_set: str = Field("val", min_length=1, description="val | test | reference | an id")
    folds: int | None = Field(None, ge=2, le=20, description="K-fold cross-validation over "
                                                              "train + val instead")
    seed: int = Field(0, description="seed of the fold assignment (with folds)")
    final: FinalModel = Field("ensemble", description="with folds, what the chosen "
                              "configuration becomes: ensemble (of its K fold models) or refit "
                              "(one run on all of train + val)")


class RankingSpec(BaseModel):
    """How models are ranked and selected. Every field has a default, so ``ranking:`` may be
    omitted; ranking then needs a metric from the command line or the task.

    With ``weights`` (metric -> weight) the ranking is multi-metric (weighted
    rank-then-aggregate); otherwise it ranks by ``metric`` alone. Patients are the unit of
    every interval and test; ``unit`` only says what an aggregate weighs equally.
    ``equivalence`` overrides the default equivalence margins (metric -> margin in its unit;
    ``weighted_rank`` for a multi-metric ranking).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str | None = Field(None, description="metric to rank by, e.g. dice or hd95")
    label: str = Field("mean", description="class or landmark name; 'mean' over foreground, "
                                           "'case' for case-level values")
    aggregate: str = Field("mean", description="mean, median, trimmed[NN], pNN (e.g. p10)")
    by: list[str] = Field(default_factory=list, description="case attributes to select per")
    bootstrap_resamples: int = Field(1000, ge=1)
    confidence: float = Field(0.95, gt=0, lt=1)
    seed: int = 0
    alpha: float = Field(0.05, gt=0, lt=1, description="significance level (Holm-corrected)")
    test: Literal["bootstrap", "wilcoxon"] = Field(
        "bootstrap", description="paired test against the best: the cluster bootstrap "
                                 "(studentized; any aggregate) or Wilcoxon on per-patient "
                                 "differences (cannot reach alpha with few patients)")
    stratify: str | None = Field("site", description="case attribute the bootstrap keeps "
                                                     "balanced; ignored when absent")
    unit: Literal["case", "patient"] = Field(
        "case", description="what an aggregate weighs equally: every case, or every patient "
                            "(its cases averaged first)")
    equivalence: dict[str, float] = Field(default_factory=dict, description="equivalence "
                                          "margin per metric, in its unit")
    selection: SelectionSpec = Field(default_factory=SelectionSpec)
    confirmation: str = Field("test", min_length=1, description="case set that reports the "
                                                                "chosen model's figures")
    tie_break: list[str] = Field(default_factory=list)
    weights: dict[str, float] = Field(default_factory=dict)
    constraints: list[str] = Field(default_factory=list)
    pareto: list[str] = Field(default_factory=list)

    @field_validator("constraints")
    @classmethod
    def _constraints_parse(cls, value: list[str]) -> list[str]:
        for text in value:
            parse_constraint(text)
        return value

    @field_validator("tie_break")
    @classmethod
    def _tie_breaks_parse(cls, value: list[str]) -> list[str]:
        for text in value:
            parse_tie_break(text)
        return value

    @field_validator("weights")
    @classmethod
    def _positive_weights(cls, value: dict[str, float]) -> dict[str, float]:
        bad = {k: w for k, w in value.items() if not w > 0}
        if bad:
            raise ValueError(f"weights must be positive, got {bad}")
        return value

    @field_validator("equivalence")
    @classmethod
    def _non_negative_margins(cls, value: dict[str, float]) -> dict[str, float]:
        bad = {k: m for k, m in value.items() if not m >= 0}
        if bad:
            raise ValueError(f"equivalence margins must be zero or positive, got {bad}")
        return value

    @field_validator("by", "pareto")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"names must not repeat, got {value}")
        return value

    @field_validator("pareto")
    @classmethod
    def _two_or_more(cls, value: list[str]) -> list[str]:
        if len(value) == 1:
            raise ValueError(f"a Pareto front needs at least 2 metrics, got {value}")
        return value

    @model_validator(mode="after")
    def _metric_among_weights(self) -> RankingSpec:
        if self.weights and self.metric and self.metric not in self.weights:
            raise ValueError(
                f"metric {self.metric!r} is not among weights {sorted(self.weights)}; "
                "with weights the ranking uses every weighted metric, so drop 'metric' or "
                "add it to 'weights'"
            )
        return self

    def metrics(self) -> dict[str, float]:
        """The metrics ranked and their weights: ``weights``, or ``{metric: 1.0}``."""
        if self.weights:
            return dict(self.weights)
        return {self.metric: 1.0} if self.metric else {}
