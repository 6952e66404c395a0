"""One training configuration: a single point of the sweep's search space.

A run is fully described by its :class:`RunConfig` and the dataset version it trains on, so
the run id derives from both (:func:`run_id`) and re-running a sweep is idempotent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer

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

LANDMARK_FIELDS = ("heatmap_sigma", "decoding")
"""Fields only landmarks runs read. Left out of dumps while unset, so the configuration JSON and
run id of every other run (and of runs made before these fields existed) stay as they were."""


def without_unset_landmark_fields(data: dict[str, Any], unset: Any = None) -> dict[str, Any]:
    """``data`` without the :data:`LANDMARK_FIELDS` whose value is ``unset``."""
    return {k: v for k, v in data.items() if not (k in LANDMARK_FIELDS and v == unset)}


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
    augmentation: AugmentationPreset = AugmentationPreset.NONE
    offline_augmentation: int = Field(0, ge=0, description="augmented copies per training case")
    input_size: tuple[int, ...] = (128, 128)
    normalization: Normalization = Normalization.ZSCORE
    depth: int = Field(4, ge=1, description="number of resolution levels below the input")
    features: int = Field(16, ge=2, description="channels of the first level")
    early_stopping_patience: int | None = Field(None, ge=1)
    seed: int = 0
    heatmap_sigma: float | None = Field(
        None, gt=0, description="landmarks: standard deviation of the Gaussian target "
        "heatmaps in input pixels; null: the landmarks plugin's default (2)")
    decoding: HeatmapDecoding | None = Field(
        None, description="landmarks: 'argmax' (whole pixels) or 'soft_argmax' (sub-pixel); "
        "null: the landmarks plugin's default (soft_argmax)")

    @field_validator(
        "architecture", "loss", "optimizer", "scheduler", "augmentation", "normalization",
        mode="before",
    )
    @classmethod
    def _known_name(cls, value: object, info) -> object:
        enum = cls.model_fields[info.field_name].annotation
        return resolve(enum, value)

    @field_validator("input_size")
    @classmethod
    def _positive_size(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not 2 <= len(value) <= 3 or any(v < 8 for v in value):
            raise ValueError(f"must be 2 or 3 sizes of at least 8 pixels, got {list(value)}")
        return value

    @model_serializer(mode="wrap")
    def _unset_landmark_fields_left_out(
        self, handler: Callable[[Any], dict[str, Any]]
    ) -> dict[str, Any]:
        return without_unset_landmark_fields(handler(self))

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
