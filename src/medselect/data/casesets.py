"""The case sets of a task by name: ``test``, ``val``, ``reference``, ``train``, ``all``, or a
stored case set id.

Every dataset version that models train on has a case set of its test split (``<version>-test``)
and, when it has validation cases, one of its validation split (``<version>-val``); the first
version also freezes its test split as the task's reference set, which later versions point at.
The names always mean the task's *latest training version*: versions of new, unseen cases
(``source.kind`` :data:`NEW_CASES_SOURCE`) are never trained on, so they never become it.

``val`` is where models are chosen and ``test`` / ``reference`` where the choice is confirmed
(``ranking.selection`` and ``ranking.confirmation`` of the experiment). ``train`` (the training
split) and ``all`` (every case of the version) hold the data the task's runs learn from, so only
models trained elsewhere (external predictions) are scored on them; they are stored on first use
(:func:`add_training_data_set`, kind ``custom``, ids ``<version>-train`` / ``<version>-all``)::

    with ws.connect() as conn:
        selection = named_case_set(conn, "knee", "val")
        confirmation = named_case_set(conn, "knee", "test")
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from medselect.config.choices import did_you_mean
from medselect.errors import NotFound
from medselect.store import (
    add_case_set,
    get_case_set,
    get_cases,
    list_case_sets,
    list_dataset_versions,
)

TEST = "test"
VAL = "val"
REFERENCE = "reference"
TRAIN = "train"
ALL = "all"
TRAINING_DATA_NAMES = (TRAIN, ALL)
"""Names of the sets that hold the data the task's runs train on (see
:func:`add_training_data_set`)."""
CASE_SET_NAMES = (VAL, TEST, REFERENCE, *TRAINING_DATA_NAMES)
"""The names :func:`named_case_set` resolves besides stored ids."""

NEW_CASES_SOURCE = "new-cases"
"""``source.kind`` of a dataset version holding only new cases to evaluate on."""

_LISTED_IDS = 6  # stored ids a "what exists" message names before "and N more"


def split_case_set_id(version_id: str, split: str) -> str:
    """Id of the case set of one split (``test``, ``val`` or ``train``) of a dataset version,
    or of all its cases (``all``)."""
    return f"{version_id}-{split}"


def is_training_data_set(row: dict[str, Any]) -> bool:
    """Whether a ``case_set`` row is the ``train`` or ``all`` set of its dataset version."""
    return (row["name"] in TRAINING_DATA_NAMES
            and row["id"] == split_case_set_id(row["dataset_version"], row["name"]))


def add_training_data_set(conn: sa.Connection, task: str, which: str) -> dict[str, Any]:
    """Store the ``train`` or ``all`` case set of the task's latest training version (if not
    yet) and return its row.

    These sets exist so that predictions made elsewhere can be scored on any cases the task
    holds; they are made on demand rather than at import because trained runs must never be
    evaluated on them. The id derives from the version's (itself content-derived), so storing
    again returns the same set. Their kind is ``custom``: the store's kinds are fixed by its
    schema, and the name and id say which set it is (:func:`is_training_data_set`).

    Args:
        conn: a connection inside a write transaction (``ws.begin()``).
        which: ``train`` (the training split) or ``all`` (every case of the version).

    Raises:
        ValueError: ``which`` is not ``train`` nor ``all``.
        NotFound: the task has no dataset version, or its latest one has no training case.
    """
    if which not in TRAINING_DATA_NAMES:
        raise ValueError(f"which must be one of {TRAINING_DATA_NAMES}, got {which!r}")
    version = _latest(conn, task, which)
    members = [c["case_id"] for c in get_cases(conn, version["id"], None if which == ALL
                                                 else TRAIN)]
    if not members:
        raise NotFound(f"dataset version {version['id']!r} of task {task!r} has no training "
                       f"case, so no {which!r} case set")
    return add_case_set(conn, {
        "id": split_case_set_id(version["id"], which), "name": which, "task": task,
        "dataset_version": version["id"], "kind": "custom",
    }, members)


def latest_training_version(conn: sa.Connection, task: str) -> dict[str, Any] | None:
    """The newest dataset version of ``task`` that models train on, or None if it has none.

    Versions of new cases (``medselect.data.importer.import_case_set``) are left out: they only
    hold cases to evaluate on, and must never become the data a sweep trains on or a later
    import builds on.
    """
    versions = [v for v in list_dataset_versions(conn, task)
                if (v["source"] or {}).get("kind") != NEW_CASES_SOURCE]
    return versions[-1] if versions else None


def named_case_set(conn: sa.Connection, task: str, which: str) -> dict[str, Any]:
    """The ``case_set`` row that ``which`` names for ``task``.

    Args:
        which: ``test`` (the test split of the task's latest training version), ``val`` (its
            validation split), ``reference`` (the frozen reference set that version is judged
            on), ``train`` / ``all`` (its training split / every case, once stored by
            :func:`add_training_data_set`), or the id of a stored case set of the task.

    Raises:
        NotFound: the task has no dataset version (for a name), its latest version has no
            validation cases (``val``), no frozen reference set (``reference``) or no stored
            ``train`` / ``all`` set yet, or no case set of the task has that id; the message
            names the task and what it has.

    Example::

        >>> named_case_set(conn, "knee", "val")["kind"]
        'val'
    """
    which = str(which)
    if which not in CASE_SET_NAMES:
        row = _stored(conn, task, which)
        if row is None:
            names = case_set_names(conn, task)
            raise NotFound(f"task {task!r} has no case set {which!r}; "
                           f"{did_you_mean(which, names)}it has {_listing(names)}")
        return row
    version = _latest(conn, task, which)
    row = _of_version(conn, task, version, which)
    if row is not None:
        return row
    if which in TRAINING_DATA_NAMES:
        raise NotFound(f"task {task!r} has no {which!r} case set yet: it is stored the first "
                       f"time predictions made elsewhere are scored on it (`medselect evaluate "
                       f"--predictions FOLDER --cases {which}`); trained runs are never "
                       f"evaluated on their own training data")
    if which == REFERENCE:
        raise NotFound(f"dataset version {version['id']!r} of task {task!r} has no frozen "
                       f"reference set (data.split.freeze_reference was off); task {task!r} "
                       f"has {_listing(case_set_names(conn, task))}")
    what = "validation" if which == VAL else "test"
    raise NotFound(f"task {task!r} has no {which!r} case set: its dataset version "
                   f"{version['id']!r} has no {what} cases; it has "
                   f"{_listing(case_set_names(conn, task))}")


def case_set_names(conn: sa.Connection, task: str) -> list[str]:
    """What :func:`named_case_set` resolves for ``task``: the names that exist (in the order
    val, test, reference, train, all), then the ids of its stored case sets, newest first."""
    version = latest_training_version(conn, task)
    names = [name for name in CASE_SET_NAMES
             if version is not None and _of_version(conn, task, version, name) is not None]
    return names + [row["id"] for row in reversed(list_case_sets(conn, task))]


def _latest(conn: sa.Connection, task: str, which: str) -> dict[str, Any]:
    """The task's latest training version, which the name ``which`` refers to.

    Raises:
        NotFound: the task has no dataset version (the message names the command to run).
    """
    version = latest_training_version(conn, task)
    if version is None:
        raise NotFound(f"task {task!r} has no dataset version, so no {which!r} case set; "
                       f"run `medselect data import` or `medselect sweep run` first")
    return version


def _of_version(conn: sa.Connection, task: str, version: dict[str, Any],
                which: str) -> dict[str, Any] | None:
    """The case set ``which`` (a name) of a training version, or None when it has none."""
    if which == REFERENCE:
        reference = version["reference_case_set"]
        return get_case_set(conn, reference) if reference else None
    return _stored(conn, task, split_case_set_id(version["id"], which))


def _listing(names: list[str]) -> str:
    """What :func:`case_set_names` gave, shortened: the names, then the first stored ids."""
    if not names:
        return "no case set"
    named = [n for n in names if n in CASE_SET_NAMES]
    ids = names[len(named):]
    parts = [", ".join(named)] if named else []
    if ids:
        more = f" and {len(ids) - _LISTED_IDS} more" if len(ids) > _LISTED_IDS else ""
        parts.append("case sets " + ", ".join(ids[:_LISTED_IDS]) + more)
    return "; ".join(parts)


def _stored(conn: sa.Connection, task: str, case_set_id: str) -> dict[str, Any] | None:
    try:
        row = get_case_set(conn, case_set_id)
    except NotFound:
        return None
    return row if row["task"] == task else None
