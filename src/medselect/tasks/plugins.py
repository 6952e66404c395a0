"""Find the plugin of a task kind: built-in ones, and third-party ones from entry points.

A package adds a task kind by declaring an entry point in the ``medselect.tasks`` group whose
object is a :class:`~medselect.tasks.base.TaskPlugin` subclass::

    [project.entry-points."medselect.tasks"]
    keypoints = "my_package.keypoints:KeypointPlugin"

The plugin declares the built-in ``family`` it shares data, metrics and dashboard with (a
subclass of a built-in plugin inherits it), and an experiment using the kind names the same
family (``task: {kind: keypoints, family: segmentation}``); :func:`plugin_for_task` checks it.

Built-in kinds win over an entry point of the same name. Entry points are read on every call
(nothing is cached), so a plugin installed while a process runs is seen by its next lookup.

Given the run it trains or predicts for, a plugin class with a ``from_run(config)`` class
method builds itself from that run's fields (landmarks: ``heatmap_sigma``, ``decoding``);
any other is built without arguments and refuses a run that sets a landmarks-only field.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint

from medselect.config.choices import did_you_mean
from medselect.config.run import LANDMARK_FIELDS, RunConfig
from medselect.config.task import (
    ENTRY_POINT_GROUP,
    TaskSpec,
    available_task_kinds,
    task_entry_points,
)
from medselect.errors import ConfigError
from medselect.tasks.base import TaskPlugin
from medselect.tasks.classification import ClassificationPlugin
from medselect.tasks.landmarks import LandmarksPlugin
from medselect.tasks.segmentation import SegmentationPlugin

_BUILTIN: dict[str, type[TaskPlugin]] = {
    SegmentationPlugin.kind: SegmentationPlugin,
    LandmarksPlugin.kind: LandmarksPlugin,
    ClassificationPlugin.kind: ClassificationPlugin,
}


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
    found = task_entry_points()
    if name not in found:
        kinds = available_task_kinds()
        raise ConfigError(
            f"task.kind: no task plugin is installed for kind {kind!r}; "
            f"{did_you_mean(name, kinds)}"
            f"installed kinds: {', '.join(kinds)}"
        )
    return _instance(_load(found[name]), run)


def plugin_for_task(task: TaskSpec, run: RunConfig | None = None) -> TaskPlugin:
    """:func:`get_task_plugin` for ``task.kind``, checked to be of ``task.family``.

    Raises:
        ConfigError: as :func:`get_task_plugin`, or the plugin declares another family than
            the task (the message names ``task.family`` and the plugin).
    """
    plugin = get_task_plugin(task.kind, run)
    family = getattr(plugin, "family", None)
    if family != task.family:
        cls = type(plugin)
        raise ConfigError(
            f"task.family: task {task.name!r} says kind {task.kind!r} is of family "
            f"{task.family.value!r}, but its plugin {cls.__module__}.{cls.__qualname__} "
            f"declares family {family!r}; set task.family to the plugin's family"
        )
    return plugin


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
