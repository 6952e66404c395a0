"""The experiment file's keys for ``sweep.strategy: pbt``: population-based training.

A population of ``size`` runs shares one configuration (every axis of ``sweep.space`` has one
value) and trains under Ray Tune's ``PopulationBasedTraining``. Every
``perturbation_interval`` epochs the members in the bottom ``quantile_fraction`` take the
weights and optimizer state of a member of the top one (exploit) and perturb its values of the
``mutations`` (explore: times 0.8 or 1.2, a neighbour in a list, or with
``resample_probability`` a new draw)::

    sweep:
      strategy: pbt
      seed: 0                       # draws the members' initial values
      population:
        size: 4
        perturbation_interval: 2    # epochs
        mutations:
          learning_rate: {log_uniform: [1.0e-4, 1.0e-2]}
          weight_decay: [0.0, 1.0e-5, 1.0e-4]
          augmentation_strength: {uniform: [0.2, 1.0]}
      space: {architecture: unet, loss: dice_ce, augmentation: light, epochs: 20}

Only values an optimizer or the augmentation can change between epochs are mutated:
``learning_rate`` and ``weight_decay`` (set on the optimizer) and ``augmentation_strength``
(the share of the ``augmentation`` preset's probabilities, 0 to 1).
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

from annotated_types import MinLen
from pydantic import BaseModel, ConfigDict, Field

from medselect.config.choices import AugmentationPreset, Scheduler, did_you_mean
from medselect.config.search import Problem, Range

if TYPE_CHECKING:
    from medselect.config.sweep import SweepSpec

__all__ = ["Mutable", "PopulationSpec", "population_problems"]


class Mutable(StrEnum):
    """The values a population may change during training."""

    LEARNING_RATE = "learning_rate"
    WEIGHT_DECAY = "weight_decay"
    AUGMENTATION_STRENGTH = "augmentation_strength"


OPTIMIZER_FIELDS = (Mutable.LEARNING_RATE, Mutable.WEIGHT_DECAY)
"""Mutations that are RunConfig fields (the members' initial values are their configs')."""

Mutation = Range | Annotated[list[float], MinLen(2)]
"""A range (``{log_uniform: [lo, hi]}`` or ``{uniform: [lo, hi]}``), or the values to move
between (explore shifts to a neighbour)."""


class PopulationSpec(BaseModel):
    """How a ``pbt`` sweep's population trains (Ray Tune's ``PopulationBasedTraining``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    size: int = Field(4, ge=2, description="members of the population")
    perturbation_interval: int = Field(
        ge=1, description="epochs between two exploit/explore steps; below the runs' epochs")
    mutations: dict[str, Mutation] = Field(
        min_length=1, description="learning_rate | weight_decay | augmentation_strength -> "
                                  "a range or a list of values")
    quantile_fraction: float = Field(
        0.25, gt=0, le=0.5, description="share of the population that exploits (bottom) and "
                                        "is exploited (top)")
    resample_probability: float = Field(
        0.25, ge=0, le=1, description="chance that explore draws a new value instead of "
                                      "perturbing the donor's")

    def bounds(self, name: str) -> tuple[float, float]:
        """The smallest and largest value mutation ``name`` may take."""
        mutation = self.mutations[name]
        if isinstance(mutation, Range):
            return mutation.bounds
        return min(mutation), max(mutation)


def population_problems(sweep: SweepSpec) -> Iterator[Problem]:
    """What is wrong with the ``population`` section of a ``sweep`` and the space it shares,
    each with its place in the section (the loader names the field and its line)."""
    spec = sweep.population
    if sweep.strategy != "pbt":
        if spec is not None:
            yield (("population",), f"'population' is only used by strategy 'pbt', not "
                                    f"{sweep.strategy!r}; set strategy: pbt or remove it")
        return
    if spec is None:
        yield (("strategy",), "strategy 'pbt' needs a 'population' section: size, "
                              "perturbation_interval and mutations")
        return
    axes = sweep.space.axes()
    for name, values in axes.items():
        if not isinstance(values, Range) and len(values) > 1:
            yield (("space", name), f"a population shares one configuration, but {name} has "
                                    f"{len(values)} values; give one (members differ only by "
                                    "population.mutations)")
    for name in spec.mutations:
        field = type(sweep.space).model_fields.get(name)
        if field and axes[name] != field.get_default(call_default_factory=True):
            yield (("space", name), f"{name} is drawn for each member from "
                                    f"population.mutations.{name}; remove it from space")
    yield from _mutation_problems(spec, axes)
    epochs = axes["epochs"][0]
    if spec.perturbation_interval >= epochs:
        yield (("population", "perturbation_interval"),
               f"perturbation_interval {spec.perturbation_interval} is not below the runs' "
               f"{epochs} epochs, so no member would ever exploit another; make it smaller")


def _mutation_problems(spec: PopulationSpec, axes: dict[str, Any]) -> Iterator[Problem]:
    names = [m.value for m in Mutable]
    for name, mutation in spec.mutations.items():
        at = ("population", "mutations", name)
        if name not in names:
            yield at, (f"{name!r} cannot change during training; {did_you_mean(name, names)}"
                       f"choose one of: {', '.join(names)}")
            continue
        if isinstance(mutation, Range) and mutation.kind == "int":
            yield at, f"{name} takes real numbers: give {{log_uniform: [lo, hi]}} or " \
                      "{uniform: [lo, hi]}, or a list of values"
            continue
        low, high = spec.bounds(name)
        if name == Mutable.LEARNING_RATE and low <= 0:
            yield at, f"a learning rate must be above 0, got {low}"
        elif low < 0 or (name == Mutable.AUGMENTATION_STRENGTH and high > 1):
            top = "1" if name == Mutable.AUGMENTATION_STRENGTH else "any"
            yield at, f"{name} takes values from 0 to {top}, got [{low}, {high}]"
    scheduled = axes["scheduler"][0] != Scheduler.NONE or axes["warmup_epochs"][0] is not None
    if Mutable.LEARNING_RATE in spec.mutations and scheduled:
        yield (("space", "scheduler"),
               "a population sets its members' learning rates itself (mutations."
               "learning_rate); use scheduler: none without warmup_epochs, or do not "
               "mutate learning_rate")
    if Mutable.AUGMENTATION_STRENGTH in spec.mutations:
        if axes["augmentation"][0] == AugmentationPreset.NONE:
            yield (("population", "mutations", "augmentation_strength"),
                   "augmentation_strength scales the augmentation preset, and augmentation is "
                   "none; choose a preset in space.augmentation or remove the mutation")
        elif axes["augmentation_ramp"][0] is not None:
            yield (("space", "augmentation_ramp"),
                   "a population sets augmentation_strength itself; remove augmentation_ramp "
                   "or the mutation")
