"""The experiment file's keys for ``sweep.strategy: optuna``: ranges, sampler, pruner, objectives.

With ``optuna`` a sweep is an Optuna study: the sampler proposes each next configuration from
the results so far, the pruner stops a run whose validation curve is losing, and the budget is
``n_trials`` and/or ``timeout``. Numeric axes of ``sweep.space`` may then be ranges instead of
lists (a list is a categorical choice, as for ``grid``)::

    sweep:
      strategy: optuna
      sampler: tpe                 # tpe | random | cmaes | nsga2
      pruner: median               # median | successive_halving | hyperband | none
      n_trials: 20
      space:
        architecture: [unet, segresnet]
        learning_rate: {log_uniform: [1.0e-4, 1.0e-2]}
        depth: {int: [2, 4]}
        dropout: {uniform: [0.0, 0.3]}

``objectives`` (default: the metric that picks a run's best epoch) names what the study
optimises: a validation metric the task reports per epoch (``val_dice``, ``val_loss``...) or
``parameters`` (the network's size); two or more make a multi-objective study whose Pareto
front ``medselect sweep pareto`` prints.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_serializer,
    model_validator,
)

from medselect.config.choices import resolve

if TYPE_CHECKING:
    from medselect.config.sweep import SweepSpec

__all__ = ["PARAMETERS", "Objective", "PrunerSpec", "Range", "Sampler", "search_problems"]

PARAMETERS = "parameters"
"""The objective that is a run's count of trainable parameters, not a validation metric."""

RangeKind = Literal["log_uniform", "uniform", "int"]


class Sampler(StrEnum):
    TPE = "tpe"
    RANDOM = "random"
    CMAES = "cmaes"
    NSGA2 = "nsga2"


class Pruner(StrEnum):
    NONE = "none"
    MEDIAN = "median"
    SUCCESSIVE_HALVING = "successive_halving"
    HYPERBAND = "hyperband"


class Range(BaseModel):
    """One numeric axis as an interval: ``{log_uniform: [lo, hi]}``, ``{uniform: [lo, hi]}``
    (real numbers) or ``{int: [lo, hi]}`` (whole numbers, both ends included)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    log_uniform: tuple[float, float] | None = None
    uniform: tuple[float, float] | None = None
    int_: tuple[int, int] | None = Field(None, alias="int")

    @model_validator(mode="after")
    def _one_interval(self) -> Range:
        given = [k for k in ("log_uniform", "uniform", "int_") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a range is one of {log_uniform: [lo, hi]}, {uniform: [lo, hi]} "
                             "or {int: [lo, hi]}")
        low, high = self.bounds
        if not low < high:
            raise ValueError(f"a range needs lo < hi, got [{low}, {high}]")
        if self.kind == "log_uniform" and low <= 0:
            raise ValueError(f"log_uniform needs lo > 0, got {low}; use uniform for a range "
                             "that starts at 0")
        return self

    @property
    def kind(self) -> RangeKind:
        if self.log_uniform is not None:
            return "log_uniform"
        return "uniform" if self.uniform is not None else "int"

    @property
    def bounds(self) -> tuple[Any, Any]:
        bounds = self.log_uniform or self.uniform or self.int_
        assert bounds is not None  # _one_interval checked it
        return bounds

    @model_serializer
    def _as_written(self) -> dict[str, list[Any]]:
        """``{kind: [lo, hi]}``, as the file writes it."""
        return {self.kind: list(self.bounds)}


class Objective(BaseModel):
    """What the study optimises: ``metric`` (a per-epoch validation metric, taken at the run's
    best epoch, or ``parameters``) and whether higher or lower is better (default: the
    metric's own direction; ``parameters``: minimize)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str = Field(min_length=1)
    direction: Literal["maximize", "minimize"] | None = None


class PrunerSpec(BaseModel):
    """How losing runs are stopped; a name alone (``pruner: median``) takes the defaults.

    ``warmup_epochs``: epochs a run trains before the pruner may stop it (the median pruner's
    warm-up, the halving pruners' minimum resource); ``startup_trials``: finished trials the median
    pruner waits for; ``reduction_factor``: the halving pruners' keep-one-in-this-many.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Pruner = Pruner.NONE
    warmup_epochs: int = Field(1, ge=1)
    startup_trials: int = Field(5, ge=0)
    reduction_factor: int = Field(3, ge=2)

    @model_validator(mode="before")
    @classmethod
    def _name_alone(cls, value: Any) -> Any:
        return {"kind": value} if isinstance(value, str) else value

    @field_validator("kind", mode="before")
    @classmethod
    def _known(cls, value: object) -> Pruner:
        return resolve(Pruner, value)


Problem = tuple[tuple[str | int, ...], str]
"""(path inside the ``sweep`` section, message)."""

def _schedule_problems(sweep: SweepSpec) -> Iterator[Problem]:
    """A warm-up as long as the shortest run of the space leaves it no epoch to schedule."""
    epochs, warmups = sweep.space.epochs, sweep.space.warmup_epochs
    shortest = epochs.bounds[0] if isinstance(epochs, Range) else min(epochs)
    ends = [(("space", "warmup_epochs"), max(warmups.bounds))] if isinstance(warmups, Range) else [
        (("space", "warmup_epochs", i), w) for i, w in enumerate(warmups) if w is not None]
    for at, warmup in ends:
        if warmup >= shortest:
            yield at, (f"warmup_epochs {warmup} leaves no epoch of the {shortest}-epoch runs of "
                       "sweep.space.epochs to the schedule; make it smaller than every epochs")


OPTUNA_KEYS = ("sampler", "pruner", "n_trials", "timeout", "objectives")
"""Keys of the ``sweep`` section only ``strategy: optuna`` reads."""


def search_problems(sweep: SweepSpec) -> Iterator[Problem]:
    """What is wrong with the Optuna keys of a ``sweep`` section, and with its schedules
    across the space, each with its place in the section, so the loader can name the field and
    its line."""
    yield from _schedule_problems(sweep)
    ranges = [name for name, values in sweep.space.axes().items() if isinstance(values, Range)]
    if sweep.strategy != "optuna":
        for name in ranges:
            yield (("space", name), f"a range needs strategy: optuna; strategy "
                                    f"{sweep.strategy!r} takes a list of values")
        for key in OPTUNA_KEYS:
            if getattr(sweep, key) != type(sweep).model_fields[key].get_default(
                    call_default_factory=True):
                yield ((key,), f"'{key}' is only used by strategy 'optuna', not "
                               f"{sweep.strategy!r}; set strategy: optuna or remove it")
        return
    if sweep.n_trials is None and sweep.timeout is None:
        yield (("n_trials",), "strategy 'optuna' needs a budget: n_trials (trials in all), "
                              "timeout (seconds), or both")
    names = [o.metric for o in sweep.objectives]
    for i, name in enumerate(names):
        if name in names[:i]:
            yield (("objectives", i, "metric"), f"objective {name!r} is listed twice")
    if len(names) > 1:
        if sweep.pruner.kind != Pruner.NONE:
            yield (("pruner",), "pruning needs a single objective (Optuna cannot prune a "
                                "multi-objective trial); set pruner: none or keep one objective")
        if sweep.sampler == Sampler.CMAES:
            yield (("sampler",), "cmaes optimises a single objective; use nsga2, tpe or random "
                                 "for several")
    elif names == [PARAMETERS] and sweep.pruner.kind != Pruner.NONE:
        yield (("pruner",), "pruning reads a validation metric per epoch, and 'parameters' is "
                            "not one; set pruner: none or optimise a validation metric")
