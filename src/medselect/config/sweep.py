"""The experiment file's ``sweep:`` section: which run configurations to train, and how.

``space`` holds one list of values per :class:`~medselect.config.run.RunConfig` field. Each
value is checked by RunConfig itself, so a sweep can never hold a value a run would refuse,
and an error names the axis and the index (``sweep.space.loss[2]``). A scalar stands for a
one-element list; for ``input_size`` a flat list of numbers (``[64, 64]``) is one size.

- ``grid``: every combination of the axes;
- ``random``: ``samples`` distinct combinations drawn with ``seed``;
- ``list``: the explicit ``configs``, each a partial RunConfig whose missing fields take the
  first value of the matching axis.

Example::

    sweep:
      strategy: grid
      space:
        architecture: [unet, segresnet]
        loss: [dice, dice_ce]
        input_size: [64, 64]

Landmarks tasks also sweep their heatmaps: ``heatmap_sigma`` (Gaussian target sigma in input
pixels) and ``decoding`` (``argmax`` or ``soft_argmax``); other kinds leave them out.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from annotated_types import MinLen
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
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
)
from medselect.config.fields import Slug, as_list
from medselect.config.run import HeatmapDecoding, RunConfig, without_unset_optional_fields

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


def _default(field: str) -> Any:
    default = RunConfig.model_fields[field].default
    return Field(default_factory=lambda: [default])


class SearchSpace(BaseModel):
    """The values to try per RunConfig field; each defaults to RunConfig's own default."""

    model_config = ConfigDict(extra="forbid")

    architecture: Axis[Annotated[Architecture, _run_checked("architecture")]] = _default(
        "architecture")
    loss: Axis[Annotated[Loss, _run_checked("loss")]] = _default("loss")
    optimizer: Axis[Annotated[Optimizer, _run_checked("optimizer")]] = _default("optimizer")
    learning_rate: Axis[Annotated[float, _run_checked("learning_rate")]] = _default(
        "learning_rate")
    weight_decay: Axis[Annotated[float, _run_checked("weight_decay")]] = _default(
        "weight_decay")
    batch_size: Axis[Annotated[int, _run_checked("batch_size")]] = _default("batch_size")
    epochs: Axis[Annotated[int, _run_checked("epochs")]] = _default("epochs")
    scheduler: Axis[Annotated[Scheduler, _run_checked("scheduler")]] = _default("scheduler")
    augmentation: Axis[Annotated[AugmentationPreset, _run_checked("augmentation")]] = _default(
        "augmentation")
    offline_augmentation: Axis[Annotated[int, _run_checked("offline_augmentation")]] = _default(
        "offline_augmentation")
    input_size: Annotated[
        list[Annotated[tuple[int, ...], _run_checked("input_size")]],
        BeforeValidator(_as_size_list), MinLen(1),
    ] = _default("input_size")
    normalization: Axis[Annotated[Normalization, _run_checked("normalization")]] = _default(
        "normalization")
    depth: Axis[Annotated[int, _run_checked("depth")]] = _default("depth")
    features: Axis[Annotated[int, _run_checked("features")]] = _default("features")
    seed: Axis[Annotated[int, _run_checked("seed")]] = _default("seed")
    heatmap_sigma: Axis[Annotated[float | None, _run_checked("heatmap_sigma")]] = _default(
        "heatmap_sigma")
    decoding: Axis[Annotated[HeatmapDecoding | None, _run_checked("decoding")]] = _default(
        "decoding")

    @model_serializer(mode="wrap")
    def _unset_landmark_axes_left_out(
        self, handler: Callable[[Any], dict[str, Any]]
    ) -> dict[str, Any]:
        return without_unset_optional_fields(handler(self), unset=[None])

    def axes(self) -> dict[str, list[Any]]:
        """Field name -> values, in RunConfig field order (``medselect.sweep`` expands it)."""
        return {name: list(getattr(self, name)) for name in type(self).model_fields}

    def size(self) -> int:
        """How many combinations a grid over the axes holds."""
        return math.prod(len(values) for values in self.axes().values())


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
        for name, field in RunConfig.model_fields.items() if name != "cv"
    },
)
"""A partial RunConfig: every field optional, each value checked by RunConfig. ``cv`` is left
out: the sweep sets it from ``ranking.selection.folds``."""


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
    strategy: Literal["grid", "random", "list"] = "grid"
    samples: int | None = Field(None, ge=1, description="combinations 'random' draws")
    seed: int = Field(0, ge=0, description="seed of the 'random' draw (not of training)")
    space: SearchSpace = Field(default_factory=SearchSpace)
    configs: list[RunOverrides] = Field(default_factory=list)  # type: ignore[valid-type]
    early_stopping: EarlyStopping | None = None
    deterministic: bool = Field(True, description="deterministic algorithms for reproducible "
                                                  "runs (slower on GPU)")
    workers: int = Field(1, ge=1, description="runs trained at the same time")
    threads_per_worker: int | None = Field(None, ge=1, description="null: CPU cores / workers")
    gpus_per_run: float = Field(
        0, ge=0, description="Ray: GPUs each run requests from the cluster (0.5: two runs share "
                             "a GPU); local processes take one GPU per worker slot")

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
