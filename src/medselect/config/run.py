"""One training configuration: a single point of the sweep's search space.

A run is fully described by its :class:`RunConfig` and the dataset version it trains on, so
the run id derives from both (:func:`run_id`) and re-running a sweep is idempotent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
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

HeatmapDecoding = Literal["argmax", "soft_argmax"]
"""How a landmark heatmap becomes a point: its argmax pixel, or the argmax refined to sub-pixel
precision by a local soft-argmax."""

FinalModel = Literal["refit", "ensemble"]
"""What a configuration chosen by cross-validation becomes: one run refitted on all of train + val,
or the ensemble of its K fold models."""

LANDMARK_FIELDS = ("heatmap_sigma", "decoding")
"""Fields only landmarks runs read."""

SCHEDULE_FIELDS = ("warmup_epochs", "augmentation_ramp")
"""Fields of a run's online schedules (beside ``scheduler``): how the learning rate warms up
and how the augmentation's strength rises over the epochs."""

OPTIONAL_FIELDS = (*LANDMARK_FIELDS, *SCHEDULE_FIELDS, "dropout", "cv", "population")
"""Fields left out of dumps while unset, so the configuration JSON and run id of every run that
does not use them (and of runs made before they existed) stay as they were."""


def without_unset_optional_fields(data: dict[str, Any], unset: Any = None) -> dict[str, Any]:
    """``data`` without the :data:`OPTIONAL_FIELDS` whose value is ``unset``."""
    return {k: v for k, v in data.items() if not (k in OPTIONAL_FIELDS and v == unset)}


class CrossValidation(BaseModel):
    """Which model of a K-fold cross-validation over train + val a run is.

    The sweep sets it when ``ranking.selection.folds`` is given; it is part of the run's
    identity, because it says which cases the run learns from. ``fold`` k (1..K) trains on the
    other folds and validates on fold k (epoch metrics, early stopping, best checkpoint). A
    chosen configuration's final model has ``final`` instead: ``refit`` trains once on all of
    train + val (no validation cases, so its last epoch is kept), ``ensemble`` trains nothing
    and predicts the mean of its K fold models' outputs. Folds are patient-level and
    site-stratified, drawn with ``seed`` (:func:`medselect.data.splits.assign_folds`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    folds: int = Field(ge=2, le=20, description="K")
    seed: int = Field(0, description="seed of the fold assignment")
    fold: int | None = Field(None, ge=1, description="the held-out fold, 1..K")
    final: FinalModel | None = Field(None, description="refit | ensemble")

    @model_validator(mode="after")
    def _one_role(self) -> CrossValidation:
        if (self.fold is None) == (self.final is None):
            raise ValueError("give either 'fold' (the held-out fold, 1..folds) or 'final' "
                             f"(refit or ensemble), got fold={self.fold}, final={self.final}")
        if self.fold is not None and self.fold > self.folds:
            raise ValueError(f"fold {self.fold} is beyond folds {self.folds}; folds are "
                             f"numbered 1..{self.folds}")
        return self

    @model_serializer(mode="wrap")
    def _unset_left_out(self, handler: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
        return {k: v for k, v in handler(self).items() if v is not None}

    def describe(self) -> str:
        """``fold 2/5``, ``refit (5 folds)`` or ``ensemble of 5``: the run's part, in words."""
        if self.fold is not None:
            return f"fold {self.fold}/{self.folds}"
        return f"refit ({self.folds} folds)" if self.final == "refit" else (
            f"ensemble of {self.folds}")


class PopulationMember(BaseModel):
    """Set by a ``pbt`` sweep: which population a run belongs to and its place in it. It is
    part of the configuration, so a member's run id derives from its initial values, its
    population (a hash of the shared configuration, the ``population`` section and the seed)
    and its index; the values it trains with later are in its curve and exploit events."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    population: str = Field(min_length=1, description="the population's id")
    member: int = Field(ge=0, description="index in the population, from 0")
    augmentation_strength: float | None = Field(
        None, ge=0, le=1, description="initial share of the augmentation preset's "
        "probabilities, when the population mutates it")

    @model_serializer(mode="wrap")
    def _unset_left_out(self, handler: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
        return {k: v for k, v in handler(self).items() if v is not None}


class RunConfig(BaseModel):
    """Every hyper-parameter of one training run; nothing else changes what a run learns."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    architecture: Architecture = Architecture.UNET
    loss: Loss = Loss.DICE_CE
    optimizer: Optimizer = Optimizer.ADAM
    learning_rate: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    batch_size: int = Field(8, ge=1)
    epochs: int = Field(10, ge=1)
    scheduler: Scheduler = Scheduler.NONE
    warmup_epochs: int | None = Field(
        None, ge=1, description="epochs of linear learning-rate warm-up before the scheduler "
        "(epoch e <= w trains at learning_rate * e / (w + 1)); with one_cycle, the epochs of its "
        "rising phase; null: none (one_cycle: 30 % of the epochs)")
    augmentation: AugmentationPreset = AugmentationPreset.NONE
    augmentation_ramp: int | None = Field(
        None, ge=1, description="epochs over which the online augmentation's probabilities rise "
        "linearly to the preset's (epoch e applies min(1, e / ramp) of them); null: the full "
        "preset from the first epoch; left out without augmentation")
    offline_augmentation: int = Field(0, ge=0, description="augmented copies per training case")
    input_size: tuple[int, ...] = (128, 128)
    normalization: Normalization = Normalization.ZSCORE
    depth: int = Field(4, ge=1, description="number of resolution levels below the input")
    features: int = Field(16, ge=2, description="channels of the first level")
    dropout: float | None = Field(
        None, ge=0, lt=1, description="dropout probability of the network's layers; null: "
        "the network's default (none for most)")
    early_stopping_patience: int | None = Field(None, ge=1)
    seed: int = 0
    heatmap_sigma: float | None = Field(
        None, gt=0, description="landmarks: standard deviation of the Gaussian target "
        "heatmaps in input pixels; null: the landmarks plugin's default (2)")
    decoding: HeatmapDecoding | None = Field(
        None, description="landmarks: 'argmax' (whole pixels) or 'soft_argmax' (sub-pixel); "
        "null: the landmarks plugin's default (soft_argmax)")
    cv: CrossValidation | None = Field(
        None, description="set by the sweep: this run's part in a K-fold cross-validation")
    population: PopulationMember | None = Field(
        None, description="set by a pbt sweep: this run's place in its population")

    @field_validator(
        "architecture", "loss", "optimizer", "scheduler", "augmentation", "normalization",
        mode="before",
    )
    @classmethod
    def _known_name(cls, value: object, info) -> object:
        enum = cls.model_fields[info.field_name].annotation
        return resolve(enum, value)

    @model_validator(mode="before")
    @classmethod
    def _ramp_needs_augmentation(cls, data: Any) -> Any:
        """A ramp with augmentation ``none`` changes nothing, so it is left out: a grid over
        both then holds one run, not two runs that train alike."""
        if (isinstance(data, dict) and data.get("augmentation_ramp") is not None
                and "augmentation" in data
                and str(data["augmentation"]).strip().lower() == AugmentationPreset.NONE):
            return {k: v for k, v in data.items() if k != "augmentation_ramp"}
        return data

    @model_validator(mode="after")
    def _warmup_fits(self) -> RunConfig:
        if self.warmup_epochs is not None and self.warmup_epochs >= self.epochs:
            raise ValueError(
                f"warmup_epochs {self.warmup_epochs} leaves no epoch of a {self.epochs}-epoch run "
                "to the schedule; make warmup_epochs smaller than epochs")
        return self

    @field_validator("input_size")
    @classmethod
    def _positive_size(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not 2 <= len(value) <= 3 or any(v < 8 for v in value):
            raise ValueError(f"must be 2 or 3 sizes of at least 8 pixels, got {list(value)}")
        return value

    @model_serializer(mode="wrap")
    def _unset_optional_fields_left_out(
        self, handler: Callable[[Any], dict[str, Any]]
    ) -> dict[str, Any]:
        return without_unset_optional_fields(handler(self))

    def canonical_json(self) -> str:
        """The config as sorted, compact JSON: the input of :func:`config_hash`."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def config_hash(config: RunConfig) -> str:
    """Content hash of a run configuration (hex sha256)."""
    return hashlib.sha256(config.canonical_json().encode()).hexdigest()


def run_id(config: RunConfig, dataset_version: str) -> str:
    """Deterministic run id: the same configuration on the same data is the same run."""
    digest = hashlib.sha256(f"{config_hash(config)}:{dataset_version}".encode()).hexdigest()
    return f"run-{digest[:12]}"


def fold_configs(config: RunConfig, folds: int, seed: int = 0) -> list[RunConfig]:
    """The configurations of ``config``'s K fold runs (folds 1..K, drawn with ``seed``)."""
    return [config.model_copy(update={"cv": CrossValidation(folds=folds, seed=seed, fold=k)})
            for k in range(1, folds + 1)]


def final_config(config: RunConfig, final: FinalModel, folds: int, seed: int = 0) -> RunConfig:
    """The configuration of ``config``'s final model after K-fold selection: ``refit`` or
    fold ``ensemble``."""
    cv = CrossValidation(folds=folds, seed=seed, final=final)
    return config.model_copy(update={"cv": cv})


def fold_run_ids(config: RunConfig, dataset_version: str) -> list[str]:
    """Run ids of the K fold runs of a cross-validated configuration, fold 1 first: the members
    of its ensemble, which its own configuration thereby names.

    Raises:
        ValueError: ``config`` has no ``cv``.
    """
    if config.cv is None:
        raise ValueError("only a cross-validated configuration (with cv) has fold runs")
    plain = config.model_copy(update={"cv": None})
    return [run_id(c, dataset_version)
            for c in fold_configs(plain, config.cv.folds, config.cv.seed)]


def stored_cv(config: Mapping[str, Any]) -> CrossValidation | None:
    """The ``cv`` of a stored run configuration, read without validating the rest, so a row
    whose other fields no longer validate still lists (its evaluation reports the problem)."""
    cv = config.get("cv")
    return CrossValidation.model_validate(cv) if cv else None
