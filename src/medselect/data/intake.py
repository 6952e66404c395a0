"""From a source on disk to the records and the task an import needs, keeping every problem.

``data check`` and ``data import`` both start here and then run the same
:func:`~medselect.data.importer.plan_import`, so they read the same cases, give them the same
patients and sites, check them against the same task definition and report the same problems
(all of them, not the first). The task definition is the stored one when the task exists, else
one built from the options and what the source says: its classes, and its spatial dims from the
options, the source's metadata or the first image, in that order (a 2D nnU-Net dataset stores
(x, y, 1) NIfTI, read as 2D).

Example::

    intake = take_in("Dataset001_Knee", TaskOptions("knee", classes=[...]),
                     CaseInfo.of(patients=r"(?P<patient>.+)_z\\d+"), stored_task=None)
    plan = plan_import(ws, intake.task, intake.records, problems=intake.problems)
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from medselect.config import TaskSpec
from medselect.data.case import CaseRecord
from medselect.data.caseinfo import CaseInfo
from medselect.data.readers import read_image
from medselect.data.sources import SourceData, read_source
from medselect.errors import ConfigError, DatasetInvalid, ImageReadError, Problem

__all__ = ["Intake", "TaskOptions", "settle_task", "take_in"]

_DIMS_TRIES = 3  # images tried before the spatial dims are left to the check's problems


@dataclass(frozen=True)
class TaskOptions:
    """What the command line says of a task that may not be stored yet.

    Args:
        name: the task's name.
        kind: its kind (segmentation, landmarks, classification, a plugin kind).
        classes: class names, background first; None: the source's, if it names them.
        spatial_dims: 2 or 3; None: from the source's metadata or its first image.
    """

    name: str
    kind: str = "segmentation"
    classes: Sequence[str] | None = None
    spatial_dims: int | None = None


@dataclass(frozen=True)
class Intake:
    """A source read and mapped, the task it is checked against, and what went wrong so far.

    Args:
        source: what was read; None when the source is malformed as a whole.
        records: the cases read (those of a malformed manifest's good rows, too).
        task: the stored task, or the one the options and the source define.
        problems: every problem of reading and mapping (images are not read yet).
        notes: what was decided for the user, in words (spatial dims inferred, cases left
            out), for the summary.
    """

    source: SourceData | None
    records: list[CaseRecord]
    task: TaskSpec
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def take_in(path: str | os.PathLike[str], options: TaskOptions, info: CaseInfo,
            stored_task: Mapping[str, Any] | None) -> Intake:
    """Read ``path``, apply ``info`` and settle the task, collecting every problem.

    Args:
        stored_task: the task's stored config when it exists (it wins over ``options``).

    Raises:
        DataError: ``path`` is not a source at all (no such file, unknown kind).
        ConfigError: a new task cannot be defined from the options (no classes, a bad name).
    """
    problems: list[Problem] = []
    try:
        source: SourceData | None = read_source(path)
        records = source.records
    except DatasetInvalid as exc:  # malformed: keep what could be read, report the rest
        source, records, problems = None, list(exc.valid), list(exc.problems)
    try:
        records = info.apply(records)
    except DatasetInvalid as exc:
        problems += exc.problems
    task, notes = settle_task(options, source, records, stored_task)
    return Intake(source, records, task, problems, [*(source.notes if source else []), *notes])


def settle_task(options: TaskOptions, source: SourceData | None, records: Sequence[CaseRecord],
                stored_task: Mapping[str, Any] | None) -> tuple[TaskSpec, list[str]]:
    """The stored task, else one the options and the source define; and a note saying where
    a new task's spatial dims came from.

    Raises:
        ConfigError: a new task cannot be defined (no classes, a bad name or kind).
    """
    if stored_task is not None:
        return TaskSpec.model_validate(stored_task), []
    classes = list(options.classes or (source.classes if source else []))
    if options.kind != "landmarks" and not classes:
        raise ConfigError(f"task {options.name!r} is new: give its classes (comma-separated, "
                          "background first for segmentation) so label values can be checked",
                          param="classes")
    dims, why = options.spatial_dims, "the spatial_dims given"
    if dims is None and source and source.spatial_dims:
        dims, why = source.spatial_dims, "the source's dataset.json"
    if dims is None:
        dims, why = _dims_of_data(records)
    note = (f"spatial dims: {dims}D (from {why}"
            + ("" if why == "the spatial_dims given" else "; give spatial dims to override")
            + ")")
    fields = {"name": options.name, "kind": options.kind, "classes": classes,
              "landmarks": list(source.landmarks) if source else [], "spatial_dims": dims}
    try:
        return TaskSpec(**fields), [note]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"]) or "task"
        raise ConfigError(first["msg"].removeprefix("Value error, "),
                          param=name.replace(".", "_")) from None


def _dims_of_data(records: Sequence[CaseRecord]) -> tuple[int, str]:
    """The dimensionality of the first readable image, and where it came from."""
    for record in records[:_DIMS_TRIES]:
        try:
            image = read_image(record.images[0])
        except ImageReadError:
            continue
        return image.ndim, f"the data: {Path(record.images[0]).name} is {image.ndim}D"
    return 2, "no readable image; 2D assumed"
