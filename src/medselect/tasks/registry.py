"""Find the plugin of a task kind: built-in ones, and third-party ones from entry points.

A package adds a task kind by declaring an entry point in the ``medselect.tasks`` group whose
object is a :class:`~medselect.tasks.base.TaskPlugin` subclass::

    [project.entry-points."medselect.tasks"]
    keypoints = "my_package.keypoints:KeypointPlugin"

Built-in kinds win over an entry point of the same name. Entry points are read on every call
(nothing is cached), so a plugin installed while a process runs is seen by its next lookup.

Given the run it trains or predicts for, a plugin class with a ``from_run(config)`` class
method builds itself from that run's fields (landmarks: ``heatmap_sigma``, ``decoding``);
any other is built without arguments and refuses a run that sets a landmarks-only field.
"""

from __future__ import annotations

import difflib
from importlib.metadata import EntryPoint, entry_points

from medselect.config.run import LANDMARK_FIELDS, RunConfig
from medselect.errors import ConfigError
from medselect.tasks.base import TaskPlugin
from medselect.tasks.classification import ClassificationPlugin
from medselect.tasks.landmarks import LandmarksPlugin
from medselect.tasks.segmentation import SegmentationPlugin

ENTRY_POINT_GROUP = "medselect.tasks"

_BUILTIN: dict[str, type[TaskPlugin]] = {
    SegmentationPlugin.kind: SegmentationPlugin,
    LandmarksPlugin.kind: LandmarksPlugin,
    ClassificationPlugin.kind: ClassificationPlugin,
}


def available_task_kinds() -> list[str]:
    """Every task kind a plugin is installed for, sorted."""
    return sorted(set(_BUILTIN) | set(_entry_points()))


def get_task_plugin(kind: str, run: RunConfig | None = None) -> TaskPlugin:
    """A fresh plugin instance for ``kind``, set up for ``run`` when given.

    Raises:
        ConfigError: no plugin serves ``kind`` (with a did-you-mean suggestion), an entry
            point cannot be loaded or does not name a TaskPlugin subclass, or ``run`` sets a
            field the plugin does not take (the message names the field).
    """
    name = str(kind).strip().lower()
    if name in _BUILTIN:
        return _instance(_BUILTIN[name], run)
    found = _entry_points()
    if name not in found:
        kinds = available_task_kinds()
        close = difflib.get_close_matches(name, kinds, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(
            f"task.kind: no task plugin is installed for kind {kind!r}; {hint}"
            f"installed kinds: {', '.join(kinds)}"
        )
    return _instance(_load(found[name]), run)


def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name.lower(): ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def _instance(cls: type[TaskPlugin], run: RunConfig | None) -> TaskPlugin:
    if run is None:
        return cls()
    from_run = getattr(cls, "from_run", None)
    if callable(from_run):
        return from_run(run)
    given = [name for name in LANDMARK_FIELDS if getattr(run, name) is not None]
    if given:
        raise ConfigError(f"{given[0]}: only landmarks tasks use it, not {cls.kind} tasks; "
                          f"remove it from sweep.space and sweep.configs")
    return cls()


def _load(ep: EntryPoint) -> type[TaskPlugin]:
    where = f"entry point {ep.name!r} ({ep.value}) of group {ENTRY_POINT_GROUP!r}"
    try:
        obj = ep.load()
    except Exception as exc:  # a broken third-party package: say which one
        raise ConfigError(f"{where} cannot be loaded: {type(exc).__name__}: {exc}") from exc
    if not (isinstance(obj, type) and issubclass(obj, TaskPlugin)):
        raise ConfigError(f"{where} must name a TaskPlugin subclass, got {obj!r}")
    return obj
