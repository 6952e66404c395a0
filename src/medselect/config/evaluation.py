"""The experiment file's ``evaluation:`` section: which cases every model is scored on, and how.

``case_sets`` lists the case sets to evaluate, in order: by default ``[val, test]``, the set
that selects the model (the validation split, ``ranking.selection``) and the set that confirms
it (the test split, ``ranking.confirmation``). The older single ``case_set: X`` is read as
``case_sets: [X]``. Metric names are checked against the metric registry by
``medselect.evaluate`` (layer 1 and above); here they are only required to be distinct names.
Left out, ``metrics`` is the task family's :data:`DEFAULT_METRICS` entry (the experiment fills
it in). Example::

    evaluation:
      case_sets: [val, reference]  # val | test | reference | a manifest or folder path
      metrics: [dice, hd95, nsd]
      nsd_tolerance_mm: {default: 1.0, femoral_cartilage: 0.5}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    field_validator,
    model_serializer,
    model_validator,
)

from medselect.config.choices import TaskKind
from medselect.config.fields import ResolvedPath, as_list

__all__ = ["DEFAULT_CASE_SETS", "DEFAULT_METRICS", "CaseSetChoice", "EvaluationSpec",
           "NsdTolerance"]

CaseSetChoice = Literal["val", "test", "reference"] | ResolvedPath
"""A case set to evaluate: the validation or test split of the current dataset version, the
frozen reference set, or a path to a manifest or folder of new cases."""

DEFAULT_CASE_SETS: tuple[str, ...] = ("val", "test")
"""The selection set and the confirmation set (``ranking.selection`` and
``ranking.confirmation`` by default)."""

DEFAULT_METRICS: dict[TaskKind, tuple[str, ...]] = {
    TaskKind.SEGMENTATION: ("dice", "iou", "hd95", "assd", "nsd", "volume_diff_rel"),
    TaskKind.LANDMARKS: ("radial_error", "mre", "sdr_2mm", "sdr_4mm"),
    TaskKind.CLASSIFICATION: ("probability", "correct", "auc", "balanced_accuracy", "ece"),
}
"""Metrics evaluated when the file names none, per task family (names of
``medselect.metrics``); a third-party kind gets its family's."""


class NsdTolerance(BaseModel):
    """NSD tolerance in mm: one ``default`` and optional per-class values.

    In YAML either a number (the default for every class) or a mapping
    ``{default: 1.0, <class>: <mm>, ...}``.
    """

    model_config = ConfigDict(extra="forbid")

    default: PositiveFloat = 1.0
    classes: dict[str, PositiveFloat] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _flat_mapping(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return {"default": value}
        if isinstance(value, dict) and "classes" not in value:
            rest = {k: v for k, v in value.items() if k != "default"}
            return {"default": value.get("default", 1.0), "classes": rest}
        return value

    @model_serializer
    def _as_flat_mapping(self) -> dict[str, float]:
        return {"default": self.default, **self.classes}

    def for_classes(self, classes: Sequence[str]) -> dict[str, float]:
        """Class name -> tolerance for each of ``classes`` (the default where none is set)."""
        return {name: self.classes.get(name, self.default) for name in classes}


class EvaluationSpec(BaseModel):
    """Which cases every model is evaluated on, with which metrics and outputs."""

    model_config = ConfigDict(extra="forbid")

    case_sets: list[CaseSetChoice] = Field(
        default_factory=lambda: list(DEFAULT_CASE_SETS), min_length=1,
        description="case sets to evaluate, in order: val, test (splits of the current "
                    "dataset version), reference (the frozen set), or paths of new cases",
    )
    metrics: list[str] = Field(
        default_factory=lambda: list(DEFAULT_METRICS[TaskKind.SEGMENTATION]), min_length=1,
    )
    nsd_tolerance_mm: NsdTolerance = Field(default_factory=NsdTolerance)
    overlays: bool = Field(True, description="write ground-truth/prediction overlay images")
    top_k: int | None = Field(None, ge=1, description="evaluate only the k runs with the best "
                                                      "validation score; null: every run")

    @model_validator(mode="before")
    @classmethod
    def _single_case_set(cls, value: Any) -> Any:
        """Read the older ``case_set: X`` as ``case_sets: [X]``."""
        if not isinstance(value, dict) or "case_set" not in value:
            return value
        if "case_sets" in value:
            raise ValueError("give case_sets only (case_set is its older, one-set spelling)")
        value = dict(value)
        value["case_sets"] = [value.pop("case_set")]
        return value

    @field_validator("metrics", "case_sets", mode="before")
    @classmethod
    def _scalar_as_list(cls, value: Any) -> Any:
        return as_list(value)

    @field_validator("case_sets")
    @classmethod
    def _distinct_case_sets(cls, value: list[Any]) -> list[Any]:
        repeated = sorted({str(name) for name in value if value.count(name) > 1})
        if repeated:
            raise ValueError(f"case sets {repeated} appear more than once; list each once")
        return value

    @field_validator("metrics")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        repeated = sorted({name for name in value if value.count(name) > 1})
        if repeated:
            raise ValueError(f"metrics {repeated} appear more than once; list each once")
        return value
