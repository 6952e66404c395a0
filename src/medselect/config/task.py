"""The experiment file's ``task:`` section: what the models learn to predict.

Example::

    task:
      name: knee-segmentation
      kind: segmentation
      spatial_dims: 2
      classes: [background, femur, tibia, patella]
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from medselect.config.choices import TaskKind, resolve
from medselect.config.fields import RESERVED_LABELS, LabelName, Slug, distinct_names

__all__ = ["TaskSpec"]


class TaskSpec(BaseModel):
    """The prediction task.

    ``classes`` lists label values in order: for segmentation ``classes[0]`` is the background
    (label 0) and ``classes[i]`` has label value ``i``; for classification ``classes[i]`` is
    target ``i``. ``landmarks`` names the points a landmarks model predicts.
    """

    model_config = ConfigDict(extra="forbid")

    name: Slug = Field(description="task id in the store, e.g. knee-segmentation")
    kind: TaskKind = TaskKind.SEGMENTATION
    spatial_dims: Literal[2, 3] = 2
    classes: list[LabelName] = Field(default_factory=list)
    landmarks: list[LabelName] = Field(default_factory=list)
    in_channels: int = Field(1, ge=1, description="image channels (MR sequences) per case")

    @field_validator("kind", mode="before")
    @classmethod
    def _known_kind(cls, value: object) -> TaskKind:
        return resolve(TaskKind, value)

    @field_validator("classes")
    @classmethod
    def _distinct_classes(cls, value: list[str]) -> list[str]:
        return distinct_names(value, "class")

    @field_validator("landmarks")
    @classmethod
    def _distinct_landmarks(cls, value: list[str]) -> list[str]:
        return distinct_names(value, "landmark")

    @model_validator(mode="after")
    def _names_for_kind(self) -> TaskSpec:
        if self.kind in (TaskKind.SEGMENTATION, TaskKind.CLASSIFICATION) and len(self.classes) < 2:
            first = "the background first, then each structure" if (
                self.kind is TaskKind.SEGMENTATION) else "one per target value"
            raise ValueError(
                f"a {self.kind} task needs at least 2 classes ({first}), got {self.classes}"
            )
        if self.kind is TaskKind.LANDMARKS and not self.landmarks:
            raise ValueError("a landmarks task needs 'landmarks': the names of its points")
        return self

    @property
    def foreground(self) -> list[str]:
        """Segmentation classes without the background: the labels per-class metrics use."""
        return self.classes[1:] if self.kind is TaskKind.SEGMENTATION else []

    def labels(self) -> list[str]:
        """Every label a metric row of this task can carry: foreground classes, landmarks,
        ``mean``, ``case``, and for classification every class (its per-class probabilities)."""
        classes = self.classes if self.kind is TaskKind.CLASSIFICATION else self.foreground
        return [*classes, *self.landmarks, *RESERVED_LABELS]
