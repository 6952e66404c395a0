"""The experiment file's ``sweep:`` section: which run configurations to train, and how.

``space`` holds one list of values per :class:`~medselect.config.run.RunConfig` field. Each
value is checked by RunConfig itself, so a sweep can never hold a value a run would refuse,
and an error names the axis and the index (``sweep.space.loss[2]``). A scalar stands for a
one-element list; for ``input_size`` a flat list of numbers (``[64, 64]``) is one size.

- ``grid``: every combination of the axes;
- ``random``: ``samples`` distinct combinations drawn with ``seed``;
- ``list``: the explicit ``configs``, each a partial RunConfig whose missing fields take the
  first value of the matching axis;
- ``optuna``: an Optuna study proposes each configuration from the results so far; numeric
  axes may be ranges (:mod:`medselect.config.search` has its keys);
- ``pbt``: one configuration trained by a population whose members exchange weights and
  perturb their learning rate, weight decay or augmentation strength as they train
  (:mod:`medselect.config.population` has its keys).

Example::

    sweep:
      strategy: grid
      space:
        architecture: [unet, segresnet]
        loss: [dice, dice_ce]
        input_size: [64, 64]

Landmarks tasks also sweep their heatmaps: ``heatmap_sigma`` (Gaussian target sigma in input
pixels) and ``decoding`` (``argmax`` or ``soft_argmax``); other kinds leave them out.

Online schedules are axes like any other: ``scheduler`` (``none``, ``cosine``, ``step``,
``poly``, ``one_cycle``), ``warmup_epochs`` (linear learning-rate warm-up; ``null`` for none)
and ``augmentation_ramp`` (epochs over which the augmentation's probabilities rise to the
preset's; ``null`` for the full preset from the start)::

    space:
      scheduler: [cosine, one_cycle]
      warmup_epochs: [null, 3]
      augmentation: light
      augmentation_ramp: [null, 10]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from annotated_types import MinLen
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    create_model,
    field_validator,
    model_serializer,
    model_validator,
)

from medselect.config.choices import (
    Architecture,
    AugmentationPreset,
    Loss,
    Normalization,
    Optimizer,
    Scheduler,
    resolve,
)
from medselect.config.fields import Slug, as_list
from medselect.config.population import PopulationSpec
from medselect.config.run import HeatmapDecoding, RunConfig, without_unset_optional_fields
from medselect.config.search import Objective, PrunerSpec, Range, RangeKind, Sampler

__all__ = ["EarlyStopping", "RunOverrides", "SearchSpace", "SweepSpec"]

T = TypeVar("T")


def _run_checked(field: str) -> BeforeValidator:
    """A validator that lets RunConfig check one value of ``field`` (its rules, its message)."""

    def check(value: Any) -> Any:
        try:
            return getattr(RunConfig.model_validate({field: value}), field)
        except ValidationError as exc:
            raise ValueError(str(exc.errors()[0]["msg"]).removeprefix("Value error, ")) from None

    return BeforeValidator(check)


def _as_size_list(value: Any) -> Any:
    """``[64, 64]`` is one input size, ``[[64, 64], [96, 96]]`` two."""
    if isinstance(value, list | tuple) and value and all(isinstance(v, int) for v in value):
        return [value]
    return as_list(value)


Axis = Annotated[list[T], BeforeValidator(as_list), MinLen(1)]

_REAL: tuple[RangeKind, ...] = ("log_uniform", "uniform")
_WHOLE: tuple[RangeKind, ...] = ("int",)


def _range_checked(field: str, kinds: tuple[RangeKind, ...]) -> AfterValidator:
    """A validator of a range of ``field``: a kind that fits the field's type, and both ends
    values RunConfig accepts."""

    def check(value: Range) -> Range:
        if value.kind not in kinds:
            shapes = " or ".join(f"{{{k}: [lo, hi]}}" for k in kinds)
            raise ValueError(f"{field} takes {'whole' if kinds == _WHOLE else 'real'} numbers: "
                             f"give {shapes}, or a list of values")
        for end in value.bounds:
            try:
                RunConfig.model_validate({field: end})
            except ValidationError as exc:
                msg = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
                raise ValueError(f"range end {end}: {msg}") from None
        return value

    return AfterValidator(check)


def _values_or_range(value: Any) -> str:
    return "range" if isinstance(value, dict | Range) else "values"


def _axis_or_range(field: str, item: Any, kinds: tuple[RangeKind, ...]) -> Any:
    """A numeric axis: a list of values (a scalar is one), or a :class:`Range` (optuna)."""
    values = Annotated[Axis[Annotated[item, _run_checked(field)]], Tag("values")]
    ranged = Annotated[Range, _range_checked(field, kinds), Tag("range")]
    return Annotated[values | ranged, Discriminator(_values_or_range)]


def _default(field: str) -> Any:
    default = RunConfig.model_fields[field].default
    return Field(default_factory=lambda: [default])


class SearchSpace(BaseModel):
    """The values to try per RunConfig field; each defaults to RunConfig's own default. A
    numeric field may instead be a :class:`~medselect.config.search.Range` (strategy optuna)."""

    model_config = ConfigDict(extra="forbid")

    architecture: Axis[Annotated[Architecture, _run_checked("architecture")]] = _default(
        "architecture")
    loss: Axis[Annotated[Loss, _run_checked("loss")]] = _default("loss")
    optimizer: Axis[Annotated[Optimizer, _run_checked("optimizer")]] = _default("optimizer")
    learning_rate: _axis_or_range("learning_rate", float, _REAL) = _default(
        "learning_rate")
    weight_decay: _axis_or_range("weight_decay", float, _REAL) = _default(
        "weight_decay")
    batch_size: _axis_or_range("batch_size", int, _WHOLE) = _default("batch_size")
    epochs: _axis_or_range("epochs", int, _WHOLE) = _default("epochs")
    scheduler: Axis[Annotated[Scheduler, _run_checked("scheduler")]] = _default("scheduler")
    warmup_epochs: _axis_or_range("warmup_epochs", int | None, _WHOLE) = _default(
        "warmup_epochs")
    augmentation: Axis[Annotated[AugmentationPreset, _run_checked("augmentation")]] = _default(
        "augmentation")
    augmentation_ramp: _axis_or_range("augmentation_ramp", int | None, _WHOLE) = _default(
        "augmentation_ramp")
    offline_augmentation: _axis_or_range("offline_augmentation", int, _WHOLE) = _default(
        "offline_augmentation")
    input_size: Annotated[
        list[Annotated[tuple[int, ...], _run_checked("input_size")]],
        BeforeValidator(_as_size_list), MinLen(1),
    ] = _default("input_size")
    normalization: Axis[Annotated[Normalization, _run_checked("normalization")]] = _default(
        "normalization")
    depth: _axis_or_range("depth", int, _WHOLE) = _default("depth")
    features: _axis_or_range("features", int, _WHOLE) = _default("features")
    dropout: _axis_or_range("dropout", float | None, _REAL) = _default("dropout")
    seed: _axis_or_range("seed", int, _WHOLE) = _default("seed")
    heatmap_sigma: _axis_or_range("heatmap_sigma", float | None, _REAL) = _default(
        "heatmap_sigma")
    decoding: Axis[Annotated[HeatmapDecoding | None, _run_checked("decoding")]] = _default(
        "decoding")

    @model_serializer(mode="wrap")
    def _unset_optional_axes_left_out(
        self, handler: Callable[[Any], dict[str, Any]]
    ) -> dict[str, Any]:
        return without_unset_optional_fields(handler(self), unset=[None])

    def axes(self) -> dict[str, list[Any] | Range]:
        """Field name -> values (or a :class:`Range`), in RunConfig field order
        (``medselect.sweep`` expands it)."""
        return {name: value if isinstance(value := getattr(self, name), Range) else list(value)
                for name in type(self).model_fields}

    def size(self) -> float:
        """How many combinations a grid over the axes holds (infinite with a range)."""
        return math.prod(math.inf if isinstance(values, Range) else len(values)
                         for values in self.axes().values())


class _PartialRunConfig(BaseModel):
    """Base of :class:`RunOverrides`: dumps and returns only the fields that were given."""

    model_config = ConfigDict(extra="forbid")

    @model_serializer(mode="wrap")
    def _only_given(self, handler: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
        return {k: v for k, v in handler(self).items() if k in self.model_fields_set}

    def as_dict(self) -> dict[str, Any]:
        """The given fields and their checked values, in RunConfig field order."""
        return {k: getattr(self, k) for k in type(self).model_fields if k in self.model_fields_set}


RunOverrides = create_model(
    "RunOverrides",
    __base__=_PartialRunConfig,
    __doc__="One explicit configuration of a ``list`` sweep: any RunConfig fields but ``cv``.",
    **{
        name: (Annotated[field.annotation, _run_checked(name)], None)
        for name, field in RunConfig.model_fields.items() if name not in ("cv", "population")
    },
)
"""A partial RunConfig: every field optional, each value checked by RunConfig. ``cv`` and
``population`` are left out: the sweep sets them (``ranking.selection.folds``, strategy pbt)."""


class EarlyStopping(BaseModel):
    """Stop a run when ``metric`` has not improved for ``patience`` epochs."""

    model_config = ConfigDict(extra="forbid")

    metric: str = Field("val_loss", min_length=1)
    patience: int = Field(10, ge=1)
    mode: Literal["min", "max"] = "min"


class SweepSpec(BaseModel):
    """Which configurations to train and how to run them."""

    model_config = ConfigDict(extra="forbid")

    name: Slug = "sweep"
    strategy: Literal["grid", "random", "list", "optuna", "pbt"] = "grid"
    samples: int | None = Field(None, ge=1, description="combinations 'random' draws")
    seed: int = Field(0, ge=0, description="seed of the 'random' draw or of the Optuna "
                                           "sampler (not of training)")
    space: SearchSpace = Field(default_factory=SearchSpace)
    configs: list[RunOverrides] = Field(default_factory=list)  # type: ignore[valid-type]
    sampler: Sampler = Field(Sampler.TPE, description="optuna: tpe | random | cmaes | nsga2")
    pruner: PrunerSpec = Field(default_factory=PrunerSpec, description="optuna: median | "
                               "successive_halving | hyperband | none, or a mapping with kind")
    n_trials: int | None = Field(None, ge=1, description="optuna: trials of the study in all, "
                                 "across every process that shares it")
    timeout: float | None = Field(None, gt=0, description="optuna: seconds after which this "
                                  "process asks for no new trial")
    objectives: list[Objective] = Field(default_factory=list, description="optuna: what the "
                                        "study optimises; default the best-epoch metric")
    population: PopulationSpec | None = Field(None, description="pbt: the population's size, "
                                              "perturbation interval and mutations")
    early_stopping: EarlyStopping | None = None
    deterministic: bool = Field(True, description="deterministic algorithms for reproducible "
                                                  "runs (slower on GPU)")
    workers: int = Field(1, ge=1, description="runs trained at the same time")
    threads_per_worker: int | None = Field(None, ge=1, description="null: CPU cores / workers")
    gpus_per_run: float = Field(
        0, ge=0, description="Ray: GPUs each run requests from the cluster (0.5: two runs share "
                             "a GPU); local processes take one GPU per worker slot")
    runs_per_gpu: int = Field(
        1, ge=1, description="runs one GPU trains at the same time, when its memory holds them: "
                             "local processes run at most GPUs x runs_per_gpu of their workers "
                             "at once; Ray runs request 1/runs_per_gpu of a GPU")
    cache: bool = Field(True, description="keep prepared cases (read, normalised, resized) in "
                                          "<workspace>/cache, shared by the sweep's runs")
    loader_workers: int | None = Field(
        None, ge=0, description="data-loader processes per run; null: none on CPU, 4 with "
                                "pinned memory and prefetch on CUDA")

    @field_validator("sampler", mode="before")
    @classmethod
    def _known_sampler(cls, value: object) -> Sampler:
        return resolve(Sampler, value)

    @model_validator(mode="after")
    def _strategy_inputs(self) -> SweepSpec:
        if self.strategy == "random":
            if self.samples is None:
                raise ValueError("strategy 'random' needs 'samples': how many to draw")
            if self.samples > self.space.size():
                raise ValueError(
                    f"samples {self.samples} exceeds the {self.space.size()} combinations of "
                    "space; lower samples or use strategy 'grid'"
                )
        elif self.samples is not None:
            raise ValueError(f"'samples' is only used by strategy 'random', not {self.strategy!r};"
                             " remove it")
        if self.runs_per_gpu > 1 and self.gpus_per_run not in (0, 1 / self.runs_per_gpu):
            raise ValueError(f"runs_per_gpu {self.runs_per_gpu} asks for {1 / self.runs_per_gpu:g}"
                             f" GPU per run but gpus_per_run is {self.gpus_per_run:g}; give one "
                             "of them")
        if self.strategy == "list" and not self.configs:
            raise ValueError("strategy 'list' needs 'configs': a list of run configurations")
        if self.strategy != "list" and self.configs:
            raise ValueError(f"'configs' is only used by strategy 'list', not {self.strategy!r};"
                             " use strategy: list or remove configs")
        return self

    def fixed(self) -> dict[str, Any]:
        """RunConfig fields every run of the sweep shares (early-stopping patience)."""
        if self.early_stopping is None:
            return {}
        return {"early_stopping_patience": self.early_stopping.patience}

    def config_dicts(self) -> list[dict[str, Any]]:
        """The explicit ``configs`` as plain dicts of their given fields."""
        return [config.as_dict() for config in self.configs]
