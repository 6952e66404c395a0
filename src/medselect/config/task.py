"""The experiment file's ``task:`` section: what the models learn to predict.

Example::

    task:
      name: knee-segmentation
      kind: segmentation
      spatial_dims: 2
      classes: [background, femur, tibia, patella]

``kind`` is a built-in kind or the name of an installed ``medselect.tasks`` entry point (a
third-party plugin). Every kind belongs to a built-in **family** whose data, predictions,
metrics and dashboard it shares; a third-party kind names it (``kind: keypoints, family:
segmentation``), a built-in kind is its own family. Entry point names are read without loading
them, so validating a file never imports torch.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from medselect.config.choices import TaskKind, unknown_choice
from medselect.config.fields import RESERVED_LABELS, LabelName, Slug, distinct_names

__all__ = ["ENTRY_POINT_GROUP", "TaskSpec", "available_task_kinds", "task_entry_points"]

ENTRY_POINT_GROUP = "medselect.tasks"
"""The entry point group through which packages add task kinds (see ``medselect.tasks``)."""

_BUILTIN_KINDS = tuple(kind.value for kind in TaskKind)


def task_entry_points() -> dict[str, EntryPoint]:
    """The installed third-party task kinds by lower-case name, not loaded (read on each call)."""
    return {ep.name.lower(): ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available_task_kinds() -> list[str]:
    """Every task kind an experiment may name, sorted: the built-in ones and the entry points."""
    return sorted({*_BUILTIN_KINDS, *task_entry_points()})


class TaskSpec(BaseModel):
    """The prediction task.

    ``classes`` lists label values in order: for segmentation ``classes[0]`` is the background
    (label 0) and ``classes[i]`` has label value ``i``; for classification ``classes[i]`` is
    target ``i``. ``landmarks`` names the points a landmarks model predicts. What a task needs
    and how it is evaluated follow its ``family``; its plugin is looked up by ``kind``.
    """

    model_config = ConfigDict(extra="forbid")

    name: Slug = Field(description="task id in the store, e.g. knee-segmentation")
    kind: str = Field(TaskKind.SEGMENTATION.value,
                      description="a built-in kind or an installed medselect.tasks entry point")
    family: TaskKind = Field(
        None, validate_default=True,  # filled in from a built-in kind by _family_of_kind
        description="the built-in kind whose data, metrics and dashboard this kind shares",
    )
    spatial_dims: Literal[2, 3] = 2
    classes: list[LabelName] = Field(default_factory=list)
    landmarks: list[LabelName] = Field(default_factory=list)
    in_channels: int = Field(1, ge=1, description="image channels (MR sequences) per case")

    @field_validator("kind", mode="before")
    @classmethod
    def _installed_kind(cls, value: object) -> str:
        name = str(value).strip().lower()
        kinds = available_task_kinds()
        if name not in kinds:
            raise ValueError(f"{unknown_choice('task kind', value, kinds)} (a third-party kind "
                             f"needs its package installed: one declaring a "
                             f"{ENTRY_POINT_GROUP!r} entry point)")
        return name

    @field_validator("family", mode="before")
    @classmethod
    def _family_of_kind(cls, value: object, info: ValidationInfo) -> TaskKind:
        kind = info.data.get("kind")
        family = None if value is None else _builtin_family(value)
        if kind is None:  # the kind was refused; that error says enough
            return family or TaskKind.SEGMENTATION
        if kind in _BUILTIN_KINDS:
            if family not in (None, kind):
                raise ValueError(f"{kind!r} is a built-in kind, its own family, not "
                                 f"{family.value!r}; leave family out")
            return TaskKind(kind)
        if family is None:
            raise ValueError(f"{kind!r} is a third-party task kind; name the built-in family "
                             f"whose data, metrics and dashboard it shares: one of "
                             f"{', '.join(_BUILTIN_KINDS)}")
        return family

    @field_validator("classes")
    @classmethod
    def _distinct_classes(cls, value: list[str]) -> list[str]:
        return distinct_names(value, "class")

    @field_validator("landmarks")
    @classmethod
    def _distinct_landmarks(cls, value: list[str]) -> list[str]:
        return distinct_names(value, "landmark")

    @model_validator(mode="after")
    def _names_for_family(self) -> TaskSpec:
        family = self.family
        what = family.value if self.kind == family else f"{self.kind} ({family} family)"
        if family in (TaskKind.SEGMENTATION, TaskKind.CLASSIFICATION) and len(self.classes) < 2:
            first = "the background first, then each structure" if (
                family is TaskKind.SEGMENTATION) else "one per target value"
            raise ValueError(
                f"a {what} task needs at least 2 classes ({first}), got {self.classes}"
            )
        if family is TaskKind.LANDMARKS and not self.landmarks:
            raise ValueError(f"a {what} task needs 'landmarks': the names of its points")
        return self

    @property
    def foreground(self) -> list[str]:
        """Segmentation classes without the background: the labels per-class metrics use."""
        return self.classes[1:] if self.family is TaskKind.SEGMENTATION else []

    def labels(self) -> list[str]:
        """Every label a metric row of this task can carry: foreground classes, landmarks,
        ``mean``, ``case``, and for classification every class (its per-class probabilities)."""
        classes = self.classes if self.family is TaskKind.CLASSIFICATION else self.foreground
        return [*classes, *self.landmarks, *RESERVED_LABELS]


def _builtin_family(value: object) -> TaskKind:
    name = str(value).strip().lower()
    if name not in _BUILTIN_KINDS:
        raise ValueError(unknown_choice("task family", value, _BUILTIN_KINDS))
    return TaskKind(name)
