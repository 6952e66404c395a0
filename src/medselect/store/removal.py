"""Removing a case set of new cases and what was computed on it (expired dashboard uploads).

The store is otherwise append-only; this is its one deletion, and it is narrow on purpose:
only a case set of kind ``new`` can go, with its evaluations (their metrics and predictions)
and the reviews of its cases. Its dataset version and cases go too unless anything else still
refers to that version (another case set, a run, a model version, a child version), so training
data, reference sets and evaluations of other case sets are never touched. The files the caller
should delete are returned, not deleted here: stored case files (``data/``) that no remaining
case uses, and the removed evaluations' ids (their artifact folders).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from medselect.errors import StoreError
from medselect.store.datasets import get_case_set
from medselect.store.metric_arrays import drop_case_metrics_stamp
from medselect.store.schema import (
    case,
    case_metric,
    case_metric_array,
    case_set,
    case_set_member,
    dataset_version,
    evaluation,
    model_version,
    prediction,
    review,
    run,
)

__all__ = ["RemovedCaseSet", "remove_new_case_set"]

REMOVABLE_KIND = "new"


@dataclass(frozen=True)
class RemovedCaseSet:
    """What :func:`remove_new_case_set` took out of the database, and the files it leaves to
    the caller: ``evaluations`` (ids, each with an artifact folder) and ``unused_files``
    (workspace-relative URIs of case files no remaining case refers to)."""

    case_set: str
    evaluations: list[str]
    unused_files: list[str]


def remove_new_case_set(conn: sa.Connection, case_set_id: str) -> RemovedCaseSet:
    """Delete a case set of new cases with its evaluations and reviews (``conn``: a write
    transaction), and its dataset version when nothing else refers to it.

    Raises:
        NotFound: there is no such case set.
        StoreError: the case set is not of kind ``new`` (training splits, test and reference
            sets are never removed).
    """
    row = get_case_set(conn, case_set_id)
    if row["kind"] != REMOVABLE_KIND:
        raise StoreError(f"case set {case_set_id!r} is a {row['kind']} set; only case sets of "
                         f"new cases (kind {REMOVABLE_KIND!r}) can be removed")
    evaluations = list(conn.scalars(sa.select(evaluation.c.id)
                                    .where(evaluation.c.case_set == case_set_id)
                                    .order_by(evaluation.c.id)))
    if evaluations:
        for table in (case_metric, case_metric_array, prediction):
            conn.execute(table.delete().where(table.c.evaluation.in_(evaluations)))
        conn.execute(evaluation.delete().where(evaluation.c.id.in_(evaluations)))
    conn.execute(review.delete().where(review.c.case_set == case_set_id))
    conn.execute(case_set_member.delete().where(case_set_member.c.case_set == case_set_id))
    conn.execute(case_set.delete().where(case_set.c.id == case_set_id))
    drop_case_metrics_stamp(conn, case_set_id)
    version = row["dataset_version"]
    if _still_used(conn, version):
        return RemovedCaseSet(case_set_id, evaluations, [])
    files = _files(conn, case.c.dataset_version == version)
    conn.execute(case.delete().where(case.c.dataset_version == version))
    conn.execute(dataset_version.delete().where(dataset_version.c.id == version))
    files -= _files(conn)
    return RemovedCaseSet(case_set_id, evaluations, sorted(files))


def _still_used(conn: sa.Connection, version: str) -> bool:
    """Whether anything besides the removed case set refers to dataset version ``version``."""
    refers = [case_set.c.dataset_version == version, evaluation.c.dataset_version == version,
              run.c.dataset_version == version, model_version.c.dataset_version == version,
              dataset_version.c.parent_id == version]
    return any(conn.scalar(sa.select(sa.exists().where(ref))) for ref in refers)


def _files(conn: sa.Connection, *where: sa.ColumnElement[bool]) -> set[str]:
    """The files the cases matching ``where`` (all cases when none) refer to."""
    stmt = sa.select(case.c.image_uris, case.c.label_uri, case.c.landmarks_uri).where(*where)
    files = set()
    for images, label, landmarks in conn.execute(stmt):
        files.update(images or ())
        files.update(uri for uri in (label, landmarks) if uri)
    return files
