"""A workspace's tasks read back: which task is meant, its definition and its ranking rules.

Importing an experiment's data stores its ``ranking:`` section with the task
(:func:`medselect.data.importer.import_experiment_data`), so the CLI, the dashboard and the
registry rank by the same rules, including which case set selects and which confirms.
"""

from __future__ import annotations

import sqlalchemy as sa
from pydantic import ValidationError

from medselect.config import RankingSpec, TaskSpec
from medselect.errors import ConfigError, NotFound
from medselect.store import get_task, list_dataset_versions

__all__ = ["only_task", "stored_ranking", "stored_task", "task_spec"]


def only_task(conn: sa.Connection) -> str:
    """The name of the workspace's only task.

    Raises:
        ConfigError: the workspace holds no task or several (the message lists them).
    """
    names = sorted({v["task"] for v in list_dataset_versions(conn)})
    if len(names) != 1:
        listed = ", ".join(names) if names else "none"
        raise ConfigError(f"the workspace holds tasks {listed}; name one with `task=` or give "
                          "the experiment file")
    return names[0]


def stored_task(conn: sa.Connection, name: str) -> dict | None:
    """The stored definition (config) of task ``name``, or None when there is no such task."""
    try:
        return get_task(conn, name)["config"]
    except NotFound:
        return None


def task_spec(conn: sa.Connection, name: str | None = None) -> TaskSpec:
    """The stored definition of task ``name`` (default: the workspace's only task).

    Raises:
        NotFound: no such task.
        ConfigError: several tasks and no name, or the stored definition is not a task spec.
    """
    name = name or only_task(conn)
    row = get_task(conn, name)
    try:
        return TaskSpec.model_validate({"name": name, **(row["config"] or {})})
    except ValidationError as exc:
        raise ConfigError(f"task {name!r}: its stored spec is not usable "
                          f"({exc.errors()[0]['msg']}); give the experiment file that "
                          "describes it") from exc


def stored_ranking(conn: sa.Connection, task: str) -> RankingSpec | None:
    """The ranking section stored with ``task``, or None when none was stored (a task imported
    without an experiment file).

    Raises:
        NotFound: no such task.
        ConfigError: the stored section is no longer a valid ranking section (written by
            another medselect); import the experiment's data again to replace it.
    """
    stored = get_task(conn, task)["ranking"]
    if stored is None:
        return None
    try:
        return RankingSpec.model_validate(stored)
    except ValidationError as exc:
        error = exc.errors()[0]
        at = ".".join(str(p) for p in error["loc"]) or "ranking"
        raise ConfigError(f"task {task!r}: its stored ranking section is not valid at "
                          f"ranking.{at} ({error['msg']}); import the experiment's data again "
                          f"(`medselect sweep run EXPERIMENT.yaml`) to replace it") from exc
