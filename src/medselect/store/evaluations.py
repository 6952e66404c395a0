"""Evaluations (a model on a case set), their per-case metrics and predictions, external models.

Every function takes a :class:`~sqlalchemy.Connection` first (from ``Workspace.begin()`` for
writes) and returns plain dicts keyed by column name. A model is referred to by its
``model_ref``: a run id, or ``external:<name>`` for predictions made elsewhere.
:func:`case_metric_table` is the per-case table that ranking and the dashboard read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from medselect.casetable import ATTRIBUTE_COLUMNS, KEY_COLUMNS, PATIENT, REFERENCE, SITE
from medselect.errors import StoreError
from medselect.jsonsafe import json_number
from medselect.store._rows import (
    check_choice,
    check_columns,
    complete_row,
    fetch_all,
    fetch_one,
    rejected,
    upsert_by_id,
    where_given,
)
from medselect.store.datasets import get_case_set
from medselect.store.metric_arrays import (
    MetricColumns,
    read_metric_arrays,
    stamp_case_metrics,
    write_metric_arrays,
)
from medselect.store.schema import (
    EVALUATION_STATUSES,
    PREDICTION_STATUSES,
    case,
    case_metric,
    case_metric_array,
    case_set_member,
    evaluation,
    external_model,
    prediction,
    task,
)
from medselect.store.schema import case_set as case_set_table
from medselect.store.statuses import EvaluationStatus

EXTERNAL_PREFIX = "external:"
_COLUMNS = (*KEY_COLUMNS, *ATTRIBUTE_COLUMNS)


def put_evaluation(conn: sa.Connection, row: Mapping[str, Any]) -> dict[str, Any]:
    """Insert an evaluation, or update the fields given for an existing one; return its row.

    Args:
        row: ``evaluation`` columns. ``id`` is always required; a new evaluation also needs
            ``model_ref``, ``case_set`` and ``dataset_version`` (status starts as pending).

    Raises:
        StoreError: a field is unknown, missing or refused by the database (unknown case set).
    """
    evaluation_id = upsert_by_id(conn, evaluation, row, "evaluation", EVALUATION_STATUSES)
    return get_evaluation(conn, evaluation_id)


def get_evaluation(conn: sa.Connection, evaluation_id: str) -> dict[str, Any]:
    """Raises: NotFound."""
    stmt = sa.select(evaluation).where(evaluation.c.id == evaluation_id)
    return fetch_one(conn, stmt, "evaluation", evaluation_id)


def find_evaluation(
    conn: sa.Connection, model_ref: str, case_set: str, dataset_version: str | None = None
) -> dict[str, Any] | None:
    """The newest evaluation of ``model_ref`` on ``case_set`` (and dataset version), or None.

    This is how evaluation stays idempotent: a model already evaluated on a case set is found
    here and not computed again.
    """
    stmt = (
        sa.select(evaluation)
        .where(evaluation.c.model_ref == model_ref, evaluation.c.case_set == case_set)
        .order_by(evaluation.c.created_at.desc(), evaluation.c.id.desc())
        .limit(1)
    )
    if dataset_version is not None:
        stmt = stmt.where(evaluation.c.dataset_version == dataset_version)
    rows = fetch_all(conn, stmt)
    return rows[0] if rows else None


def list_evaluations(
    conn: sa.Connection,
    case_set: str | None = None,
    model_ref: str | None = None,
    status: str | None = None,
) -> list[dict[str, Any]]:
    """Evaluations, oldest first (ties broken by id), filtered by the arguments."""
    if status is not None:
        check_choice(status, EVALUATION_STATUSES, "evaluation status")
    stmt = sa.select(evaluation).order_by(evaluation.c.created_at, evaluation.c.id)
    filters = {"case_set": case_set, "model_ref": model_ref, "status": status}
    return fetch_all(conn, where_given(stmt, evaluation, filters))


def set_evaluation_status(
    conn: sa.Connection, evaluation_id: str, status: str, *, duration_s: float | None = None
) -> dict[str, Any]:
    """Record an evaluation's new status (and, when given, how long it took); return its row.

    Raises:
        NotFound: the evaluation is missing.
        StoreError: ``status`` is not one of the evaluation statuses.
    """
    check_choice(status, EVALUATION_STATUSES, "evaluation status")
    get_evaluation(conn, evaluation_id)
    values: dict[str, Any] = {"status": status}
    if duration_s is not None:
        values["duration_s"] = float(duration_s)
    conn.execute(evaluation.update().where(evaluation.c.id == evaluation_id).values(values))
    return get_evaluation(conn, evaluation_id)


def replace_case_metrics(
    conn: sa.Connection, evaluation_id: str, rows: Iterable[Mapping[str, Any]]
) -> int:
    """Replace all per-case metric values of an evaluation; return how many were stored.

    Args:
        rows: mappings with ``case_id``, ``metric``, ``value`` and optionally ``label`` (the
            class or structure, ``""`` for a whole-case value). NaN and None are stored as NULL
            (the metric is undefined for the case). Inserted in one bulk statement.

    Raises:
        NotFound: the evaluation is missing.
        StoreError: a row lacks a field, or the same case, metric and label is given twice.
    """
    case_set = get_evaluation(conn, evaluation_id)["case_set"]
    values = [_metric_row(evaluation_id, row) for row in rows]
    conn.execute(case_metric.delete().where(case_metric.c.evaluation == evaluation_id))
    if values:
        try:
            conn.execute(case_metric.insert(), values)
        except sa.exc.IntegrityError as exc:
            raise rejected(f"case metrics of evaluation {evaluation_id!r}", exc) from exc
    write_metric_arrays(conn, evaluation_id, values)
    stamp_case_metrics(conn, case_set)
    return len(values)


def _metric_row(evaluation_id: str, row: Mapping[str, Any]) -> dict[str, Any]:
    try:
        case_id, metric, value = row["case_id"], row["metric"], row["value"]
    except KeyError as exc:
        raise StoreError(f"case metric of evaluation {evaluation_id!r}: missing field {exc}; "
                         f"a row needs case_id, metric, value (and optionally label), "
                         f"got {dict(row)}") from None
    return {"evaluation": evaluation_id, "case_id": case_id, "metric": metric,
            "label": row.get("label") or "", "value": _number(value)}


def replace_predictions(
    conn: sa.Connection, evaluation_id: str, rows: Sequence[Mapping[str, Any]]
) -> int:
    """Replace all prediction rows of an evaluation; return how many were stored.

    Args:
        rows: ``prediction`` columns; ``case_id`` and ``status`` (ok, missing, error) are
            required, ``evaluation`` is filled in.

    Raises:
        NotFound: the evaluation is missing.
        StoreError: a field is unknown, missing or has a wrong value.
    """
    get_evaluation(conn, evaluation_id)
    values = []
    for row in rows:
        what = f"prediction of case {row.get('case_id')!r} in evaluation {evaluation_id!r}"
        check_choice(row.get("status"), PREDICTION_STATUSES, f"{what}: status")
        values.append(complete_row(prediction, {**row, "evaluation": evaluation_id}, what))
    conn.execute(prediction.delete().where(prediction.c.evaluation == evaluation_id))
    if values:
        try:
            conn.execute(prediction.insert(), values)
        except sa.exc.IntegrityError as exc:
            raise rejected(f"predictions of evaluation {evaluation_id!r}", exc) from exc
    return len(values)


def get_predictions(conn: sa.Connection, evaluation_id: str,
                    case_ids: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Prediction rows of an evaluation (of ``case_ids`` only, when given), ordered by case id.

    Raises:
        NotFound: the evaluation is missing.
    """
    get_evaluation(conn, evaluation_id)
    stmt = (sa.select(prediction).where(prediction.c.evaluation == evaluation_id)
            .order_by(prediction.c.case_id))
    if case_ids is not None:
        stmt = stmt.where(prediction.c.case_id.in_(list(case_ids)))
    return fetch_all(conn, stmt)


def predictions_of_case(
    conn: sa.Connection, case_id: str, evaluation_ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """The prediction rows of one case in several evaluations, keyed by evaluation id."""
    stmt = sa.select(prediction).where(prediction.c.case_id == case_id,
                                       prediction.c.evaluation.in_(list(evaluation_ids)))
    return {row["evaluation"]: row for row in fetch_all(conn, stmt)}


def latest_evaluations(
    conn: sa.Connection, case_set: str, model_refs: Sequence[str] | None = None
) -> dict[str, dict[str, Any]]:
    """The newest *finished* evaluation of each model on ``case_set``, keyed by model ref."""
    latest: dict[str, dict[str, Any]] = {}
    for row in list_evaluations(conn, case_set=case_set, status=EvaluationStatus.FINISHED):
        if model_refs is None or row["model_ref"] in model_refs:
            latest[row["model_ref"]] = row  # oldest first, so the newest wins
    return latest


def case_metric_table(
    conn: sa.Connection,
    *,
    case_set: str,
    model_refs: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    labels: Sequence[str] | None = None,
    case_ids: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The per-case table of a case set: what ranking and the dashboard read.

    Long format as :mod:`medselect.casetable` defines it: one row per model (its model ref),
    case, metric and label, ``value`` NaN where the metric is undefined, and the case
    attributes ``patient_id`` and ``site`` (and ``reference`` when cases have a reference
    class). Each model contributes its newest finished evaluation on the case set; values of
    cases that are not members of the case set are left out. Rows are ordered by model, case,
    metric and label. ``model_refs``, ``metrics``, ``labels`` and
    ``case_ids`` restrict the table to those values.

    Raises:
        NotFound: the case set is missing.
    """
    return case_metric_values(conn, case_set=case_set, model_refs=model_refs, metrics=metrics,
                              labels=labels, case_ids=case_ids).table()


@dataclass(frozen=True)
class CaseGrid:
    """One metric at one label as a cases x models array, NaN where a model has no value.

    ``cases``: the member cases (sorted ids) at least one model has a row for; ``models``:
    every model of the values read (sorted), with or without a value here; ``attributes``:
    the cases' attributes as :func:`case_metric_table` gives them, indexed by case id.
    """

    models: tuple[str, ...]
    cases: pd.Index
    values: np.ndarray
    attributes: pd.DataFrame


class CaseValues:
    """A case set's per-case values as read from the arrays, before any long table is made.

    Ranking wants cases x models matrices; building the long table (one row per model, case,
    metric and label: 400,000 rows of strings per metric at 200 models x 2000 cases) and
    pivoting it back costs more than the whole read. :meth:`grid` places the values straight
    into one metric's matrix; :meth:`table` builds the long table, once, for callers that
    want rows.
    """

    def __init__(self, read: MetricColumns | None, models: np.ndarray,
                 members: pd.DataFrame) -> None:
        self._read = read
        self._model_names = models
        self._members = members
        self._table: pd.DataFrame | None = None
        if read is None or not len(read.values):
            self._read, self._keep, self._models = None, np.zeros(0, dtype=bool), models[:0]
            return
        member_of = members.index.get_indexer(read.names["case_id"])
        has_site = members[SITE].notna().to_numpy()
        self._member_of = member_of
        self._keep = ((member_of >= 0) & has_site[np.maximum(member_of, 0)])[
            read.codes["case_id"]]
        used = np.unique(read.codes["model"][self._keep])
        self._models = models[used]  # the models of the table: those with a member's row
        self._model_position = np.full(len(models), -1, dtype=np.intp)
        self._model_position[used] = np.arange(len(used))

    @property
    def empty(self) -> bool:
        """Whether no member case has a value (the long table would have no row)."""
        return not self._keep.any()

    @property
    def nbytes(self) -> int:
        """Memory held by the values read and their codes."""
        if self._read is None:
            return 0
        return self._read.values.nbytes + sum(c.nbytes for c in self._read.codes.values())

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(str(m) for m in self._models)

    def metrics(self) -> list[str]:
        """The metrics that have a member's row."""
        if self.empty:
            return []
        codes = np.unique(self._read.codes["metric"][self._keep])
        return [str(m) for m in self._read.names["metric"][codes]]

    def labels(self, metric: str) -> list[str]:
        """The labels ``metric`` has a member's row at, sorted."""
        if self.empty:
            return []
        names = self._read.names
        where = self._keep & (self._read.codes["metric"] == _code(names["metric"], metric))
        return [str(label) for label in names["label"][np.unique(self._read.codes["label"][where])]]

    def sites(self) -> set[str]:
        """The sites of the member cases with a row."""
        if self.empty:
            return set()
        cases = np.unique(self._read.codes["case_id"][self._keep])
        return {str(s) for s in self._members[SITE].to_numpy()[self._member_of[cases]]}

    def table(self) -> pd.DataFrame:
        """The long per-case table (:func:`case_metric_table`), built on first call."""
        if self._table is None:
            if self._read is None:
                self._table = empty_table()
            else:
                read = self._read
                names = {**read.names, "model": self._model_names}
                self._table = coded_table(read.codes, names, read.values, self._members)
        return self._table

    def grid(self, metric: str, label: str) -> CaseGrid | None:
        """``metric`` at ``label`` as a cases x models array; None without a member's row."""
        if self.empty:
            return None
        read, names = self._read, self._read.names
        where = (self._keep & (read.codes["metric"] == _code(names["metric"], metric))
                 & (read.codes["label"] == _code(names["label"], label)))
        if not where.any():
            return None
        case_codes = read.codes["case_id"][where]
        used = np.unique(case_codes)  # codes index the sorted case ids: case id order
        rows = np.searchsorted(used, case_codes)
        columns = self._model_position[read.codes["model"][where]]
        values = np.full((len(used), len(self._models)), np.nan)
        values[rows, columns] = read.values[where]
        cases = pd.Index(pd.array(names["case_id"][used], dtype="str"), name="case_id")
        member_rows = self._member_of[used]
        attributes = {name: self._members[name].array.take(member_rows)
                      for name in self._attribute_names()}
        return CaseGrid(self.models, cases, values, pd.DataFrame(attributes, index=cases))

    def _attribute_names(self) -> list[str]:
        names = list(ATTRIBUTE_COLUMNS)
        if self._members[REFERENCE].notna().any():
            names.append(REFERENCE)
        return names


def _code(names: np.ndarray, name: str) -> int:
    """The position of ``name`` in sorted ``names``, -1 when absent (it matches no code)."""
    at = int(np.searchsorted(names, name))
    return at if at < len(names) and names[at] == name else -1


def case_metric_values(
    conn: sa.Connection,
    *,
    case_set: str,
    model_refs: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    labels: Sequence[str] | None = None,
    case_ids: Sequence[str] | None = None,
) -> CaseValues:
    """The per-case values :func:`case_metric_table` reads (same arguments), as
    :class:`CaseValues`: matrices of one metric without the long table.

    Raises:
        NotFound: the case set is missing.
    """
    get_case_set(conn, case_set)
    evaluations = latest_evaluations(conn, case_set, model_refs)
    members = case_attributes(conn, case_set)
    if not evaluations:
        return CaseValues(None, np.zeros(0, dtype=object), members)
    read = read_metric_arrays(conn, [row["id"] for row in evaluations.values()],
                              metrics=metrics, labels=labels, case_ids=case_ids)
    model_of = {row["id"]: ref for ref, row in evaluations.items()}
    model_codes, model_names = pd.factorize(
        np.array([model_of[e] for e in read.names["evaluation"]], dtype=object), sort=True)
    if len(read.values):
        read = MetricColumns({**read.codes, "model": model_codes[read.codes["evaluation"]]},
                             read.names, read.values)
    return CaseValues(read, np.asarray(model_names, dtype=object), members)


def with_case_attributes(frame: pd.DataFrame, members: pd.DataFrame) -> pd.DataFrame:
    """Rows of the per-case table (``model``, ``case_id``, ``metric``, ``label``, ``value``)
    with the case attributes of :func:`case_attributes`, in the table's column order and sort;
    rows of cases that are not members are left out."""
    return assembled_table({name: frame[name].to_numpy(dtype=object) for name in KEY_COLUMNS},
                           members)


def assembled_table(columns: Mapping[str, np.ndarray], members: pd.DataFrame) -> pd.DataFrame:
    """The per-case table of the key columns (object arrays of one length) and the case
    attributes of :func:`case_attributes` (as :func:`coded_table`).

    Strings are factorized once and the table built from the codes, so sorting and joining
    the attributes costs integer work, not string work, at 10^6 rows.
    """
    codes, uniques = {}, {}
    for name in ("model", "case_id", "metric", "label"):
        codes[name], uniques[name] = pd.factorize(columns[name], sort=True)
    return coded_table(codes, uniques, columns["value"], members)


def coded_table(codes: Mapping[str, np.ndarray], names: Mapping[str, np.ndarray],
                values: np.ndarray, members: pd.DataFrame) -> pd.DataFrame:
    """The per-case table of values keyed by integer codes into sorted names (``model``,
    ``case_id``, ``metric``, ``label``) and the case attributes of :func:`case_attributes`:
    rows of cases that are not members (or have no site) left out, sorted by model, case,
    metric and label."""
    member_of = members.index.get_indexer(names["case_id"])
    has_site = members[SITE].notna().to_numpy()
    valid = (member_of >= 0) & has_site[np.maximum(member_of, 0)]
    keep = valid[codes["case_id"]]
    order = np.lexsort([codes[name] for name in ("label", "metric", "case_id", "model")])
    order = order[keep[order]]
    frame = {name: pd.array(names[name], dtype="str").take(codes[name][order])
             for name in ("model", "case_id", "metric", "label")}
    frame["value"] = np.asarray(values[order], dtype=float)
    rows_of = member_of[codes["case_id"][order]]
    attributes = list(ATTRIBUTE_COLUMNS)
    if members[REFERENCE].notna().any():
        attributes.append(REFERENCE)
    for attribute in attributes:
        frame[attribute] = members[attribute].array.take(rows_of)
    return pd.DataFrame(frame, columns=[*_COLUMNS, *attributes[len(ATTRIBUTE_COLUMNS):]])


def evaluated_metrics(conn: sa.Connection, evaluation_id: str) -> list[tuple[str, str]]:
    """The distinct ``(metric, label)`` pairs stored for an evaluation, sorted."""
    stmt = (sa.select(case_metric_array.c.metric, case_metric_array.c.label)
            .where(case_metric_array.c.evaluation == evaluation_id)
            .order_by(case_metric_array.c.metric, case_metric_array.c.label))
    return [tuple(row) for row in conn.execute(stmt)]


def case_attributes(conn: sa.Connection, case_set: str) -> pd.DataFrame:
    """Patient, site and reference class name (None without a target) of each member, by case
    id."""
    joined = case_set_member.join(case, sa.and_(
        case.c.dataset_version == case_set_member.c.dataset_version,
        case.c.case_id == case_set_member.c.case_id))
    stmt = (sa.select(case.c.case_id, case.c.patient_id, case.c.site, case.c.target)
            .select_from(joined)
            .where(case_set_member.c.case_set == case_set))
    rows = conn.execute(stmt).all()
    classes = _task_classes(conn, case_set) if any(r.target is not None for r in rows) else []
    return pd.DataFrame({
        PATIENT: [r.patient_id or r.case_id for r in rows],
        SITE: [r.site for r in rows],
        REFERENCE: [None if r.target is None else
                           classes[r.target] if 0 <= r.target < len(classes) else str(r.target)
                           for r in rows],
    }, index=pd.Index([r.case_id for r in rows], dtype=object))


def _task_classes(conn: sa.Connection, case_set_id: str) -> list[str]:
    stmt = (sa.select(task.c.config).select_from(case_set_table.join(task))
            .where(case_set_table.c.id == case_set_id))
    config = conn.execute(stmt).scalar() or {}
    return [str(name) for name in config.get("classes") or []]


def empty_table() -> pd.DataFrame:
    """A per-case table without rows."""
    frame = pd.DataFrame({column: pd.Series(dtype=object) for column in _COLUMNS})
    frame["value"] = frame["value"].astype(float)
    return frame


def put_external_model(conn: sa.Connection, row: Mapping[str, Any]) -> dict[str, Any]:
    """Record a model whose predictions were made elsewhere, or update it; return its row.

    Its evaluations refer to it as ``external:<name>`` (:data:`EXTERNAL_PREFIX`).

    Args:
        row: ``external_model`` columns; ``name`` and ``task`` are required for a new one.

    Raises:
        StoreError: a field is unknown, missing or refused by the database (unknown task).
    """
    name = row.get("name")
    if not name:
        raise StoreError("external model: the 'name' field is required")
    what = f"external model {name!r}"
    check_columns(external_model, row, what)
    stmt = sa.select(external_model.c.name).where(external_model.c.name == name)
    exists = conn.execute(stmt).first() is not None
    try:
        if not exists:
            conn.execute(external_model.insert(), complete_row(external_model, row, what))
        elif len(row) > 1:
            updates = {k: v for k, v in row.items() if k != "name"}
            conn.execute(external_model.update().where(external_model.c.name == name)
                         .values(updates))
    except sa.exc.IntegrityError as exc:
        raise rejected(what, exc) from exc
    return get_external_model(conn, name)


def get_external_model(conn: sa.Connection, name: str) -> dict[str, Any]:
    """``name`` with or without the ``external:`` prefix. Raises: NotFound."""
    name = name.removeprefix(EXTERNAL_PREFIX)
    stmt = sa.select(external_model).where(external_model.c.name == name)
    return fetch_one(conn, stmt, "external model", name)


def latest_metric_policy(conn: sa.Connection, task: str) -> dict[str, Any] | None:
    """The metric policy of the task's newest finished evaluation (its metrics, NSD tolerances
    and inference settings), or None before the first."""
    stmt = (sa.select(evaluation.c.metric_policy)
            .join(case_set_table, case_set_table.c.id == evaluation.c.case_set)
            .where(case_set_table.c.task == task, evaluation.c.status == EvaluationStatus.FINISHED)
            .order_by(evaluation.c.created_at.desc(), evaluation.c.id.desc()).limit(1))
    return conn.execute(stmt).scalar()


def list_external_models(conn: sa.Connection, task: str) -> list[dict[str, Any]]:
    """The external models of ``task``, by name."""
    stmt = sa.select(external_model).where(external_model.c.task == task).order_by(
        external_model.c.name)
    return fetch_all(conn, stmt)


def _number(value: Any) -> float | None:
    if value is None:
        return None
    return json_number(float(value))
