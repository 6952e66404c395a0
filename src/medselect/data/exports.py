"""Tables a user takes out of a workspace: a task's cases, and its per-case metric table.

Both say which patient and site every case belongs to and carry the cases' attributes
(scanner, age, ... from the manifest), so a notebook, a statistician or the challengeR package
can work without reading the database::

    >>> from medselect.data import cases_by_site, export_case_metrics, task_cases
    >>> with ws.connect() as conn:
    ...     cases = task_cases(conn, "knee")            # the latest training version's cases
    ...     table = export_case_metrics(conn, "knee", metrics=["dice"])
    >>> cases_by_site(cases)                            # patients and cases per site and split
    >>> table[table["label"] == "mean"].groupby("model")["value"].mean()

The metric table is :func:`medselect.store.case_metric_table`, the one ranking reads, so an
export shows exactly the values behind a leaderboard.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa

from medselect.casetable import PATIENT, SITE
from medselect.config.choices import unknown_choice
from medselect.data.case import SPLITS
from medselect.data.casesets import TEST, latest_training_version, named_case_set
from medselect.data.tasks import stored_ranking
from medselect.errors import ConfigError, NotFound
from medselect.store import (
    case_metric_table,
    case_set_members,
    evaluated_metrics,
    get_cases,
    latest_evaluations,
    list_dataset_versions,
)

__all__ = ["CASE_SET", "LABELLED", "SPLIT", "cases_by_site", "export_case_metrics", "task_cases"]

CASE_SET = "case_set"
"""Column of :func:`export_case_metrics`: the id of the case set the values were computed on."""

SPLIT = "split"
"""Column of :func:`task_cases`: the split (train, val, test) of the case's dataset version."""

LABELLED = "labelled"
"""Column of :func:`task_cases`: whether the case has a reference (label map, landmarks or
target class), so whether evaluation can score it."""

ATTRIBUTE_PREFIX = "attribute_"
"""Put before a case attribute's name when a column of the table already has that name."""


def task_cases(
    conn: sa.Connection, task: str, *, case_set: str | None = None, version: str | None = None
) -> pd.DataFrame:
    """One row per case, ordered by case id: ``case_id``, ``patient_id``, ``site``, ``split``,
    ``labelled``, then one column per case attribute (NaN where a case lacks it).

    Args:
        case_set: list the members of this case set instead (``val``, ``test``,
            ``reference`` or an id, as :func:`~medselect.data.named_case_set` takes); the
            reference set's cases may belong to an older dataset version.
        version: list this dataset version of the task instead. Default: the task's latest
            training version, the cases a sweep trains and tests on.

    Raises:
        ConfigError: both ``case_set`` and ``version`` are given.
        NotFound: the task has no dataset version, or no such case set or version (the
            message lists what it has).
    """
    rows = _case_rows(conn, task, case_set, version)
    frame = pd.DataFrame({
        "case_id": [r["case_id"] for r in rows],
        PATIENT: [r["patient_id"] or r["case_id"] for r in rows],
        SITE: [r["site"] for r in rows],
        SPLIT: [r["split"] for r in rows],
        LABELLED: pd.Series([_labelled(r) for r in rows], dtype=bool),
    })
    return frame.join(_attributes(rows, frame.columns), on="case_id")


def cases_by_site(cases: pd.DataFrame) -> pd.DataFrame:
    """Patients and cases per site and split of a :func:`task_cases` table (columns ``site``,
    ``split``, ``patients``, ``cases``; splits in train, val, test order): statistics resample
    patients, so a site's patients, not its cases, say how much evidence it brings."""
    split = pd.Categorical(cases[SPLIT], categories=SPLITS)
    grouped = cases.assign(**{SPLIT: split}).groupby([SITE, SPLIT], observed=True)
    counts = grouped.agg(patients=(PATIENT, "nunique"), cases=("case_id", "size"))
    counts = counts.reset_index()
    counts[SPLIT] = counts[SPLIT].astype(str)
    return counts


def export_case_metrics(
    conn: sa.Connection,
    task: str,
    *,
    case_set: str | None = None,
    models: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The per-case metric table of a case set in long ("tidy") form, with case attributes.

    One row per model, case, metric and label: the columns of :mod:`medselect.casetable`
    (``model``, ``case_id``, ``metric``, ``label``, ``value`` NaN where undefined,
    ``patient_id``, ``site``, ``reference`` for cases with a reference class), then
    ``case_set`` and one column per case attribute. Each model contributes its newest finished
    evaluation on the case set, as in a ranking. In challengeR's terms ``model`` is the
    algorithm, ``case_id`` the case and each ``metric`` (with its ``label``) a task.

    Args:
        case_set: ``val``, ``test``, ``reference`` or a case set id; default the task's
            confirmation set (its stored ``ranking.confirmation``, else ``test``).
        models: only these model refs (run ids, ``external:<name>``); default all evaluated.
        metrics: only these metrics; default all stored.

    Raises:
        NotFound: no such task or case set, the case set has no finished evaluation, or a
            model or metric is not among those evaluated on it (the message names the closest
            and lists them).
    """
    case_set_id = named_case_set(conn, task, case_set or _confirmation_set(conn, task))["id"]
    evaluations = latest_evaluations(conn, case_set_id)
    where = f"case set {case_set_id!r} of task {task!r}"
    if not evaluations:
        raise NotFound(f"{where} has no finished evaluation; run `medselect evaluate` first")
    _check_known("model", models or (), sorted(evaluations), where)
    if metrics is not None:
        chosen = evaluations if models is None else models
        stored = {m for ref in chosen for m, _ in evaluated_metrics(conn, evaluations[ref]["id"])}
        _check_known("metric", metrics, sorted(stored), where)
    table = case_metric_table(conn, case_set=case_set_id, model_refs=models, metrics=metrics)
    table[CASE_SET] = case_set_id
    return table.join(_attributes(case_set_members(conn, case_set_id), table.columns),
                      on="case_id")


def _case_rows(conn: sa.Connection, task: str, case_set: str | None,
               version: str | None) -> list[dict[str, Any]]:
    if case_set is not None and version is not None:
        raise ConfigError(f"give a case set ({case_set!r}) or a dataset version ({version!r}), "
                          "not both: a case set's cases are those of its own version")
    if case_set is not None:
        return case_set_members(conn, named_case_set(conn, task, case_set)["id"])
    if version is not None:
        known = [v["id"] for v in list_dataset_versions(conn, task)]
        _check_known("dataset version", [version], known, f"task {task!r}")
        return get_cases(conn, version)
    latest = latest_training_version(conn, task)
    if latest is None:
        raise NotFound(f"task {task!r} has no dataset version; run `medselect data import` "
                       "or `medselect sweep run` first")
    return get_cases(conn, latest["id"])


def _confirmation_set(conn: sa.Connection, task: str) -> str:
    """The case set that reports a task's chosen model, as ``medselect rank`` confirms on."""
    spec = stored_ranking(conn, task)
    return TEST if spec is None else spec.confirmation


def _labelled(row: Mapping[str, Any]) -> bool:
    return bool(row["label_uri"] or row["landmarks_uri"]) or row["target"] is not None


def _attributes(rows: Sequence[Mapping[str, Any]], taken: Iterable[str]) -> pd.DataFrame:
    """The cases' attributes indexed by case id, a column each (sorted by name); a name that
    is already a column of the table gets :data:`ATTRIBUTE_PREFIX`, so no value is lost."""
    frame = pd.DataFrame([r["attributes"] or {} for r in rows],
                         index=[r["case_id"] for r in rows])
    taken = set(taken)
    frame = frame[sorted(frame.columns)]
    return frame.rename(columns=lambda c: f"{ATTRIBUTE_PREFIX}{c}" if c in taken else c)


def _check_known(what: str, asked: Iterable[str], known: Sequence[str], where: str) -> None:
    """Refuse the first of ``asked`` that is not in ``known``, naming the closest of them."""
    for name in asked:
        if name not in known:
            listing = (unknown_choice(what, name, known) if known
                       else f"unknown {what} {name!r}; there is none")
            raise NotFound(f"{where}: {listing}")
