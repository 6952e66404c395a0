"""The per-case metric values of an evaluation as arrays, one per metric and label.

``case_metric`` holds one row per evaluation, case, metric and label: the table queries and
exports read. Ranking reads whole columns (one metric at one label, every case, every model),
and at 200 models x 2000 cases a column is 400,000 rows whose Python tuples cost seconds to
fetch. So :func:`write_metric_arrays` stores, in the same transaction as the rows, each
metric and label of an evaluation as two blobs (``case_metric_array``: the case ids, the
values as float64), and :func:`read_metric_arrays` reads a column as 200 blobs and numpy.
Both are written by :func:`medselect.store.replace_case_metrics` only (and by the upgrade to
schema version 4 from the rows), so they always hold the same values.

Each replacement also writes a new stamp of the evaluation's case set (:func:`case_metrics_stamp`,
in ``meta``): readers that cache results computed from a case set's values key them by it, so a
re-evaluation under the same id, status and duration is never served old numbers.
"""

from __future__ import annotations

import json
import uuid
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from medselect.errors import StoreError
from medselect.store.schema import case_metric, case_metric_array, meta

VALUE_DTYPE = np.dtype("<f8")
STAMP_PREFIX = "case_metrics:"
"""``meta`` key of a case set's stamp: this prefix and the case set's id."""


def array_rows(evaluation_id: str, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``case_metric_array`` rows of an evaluation's ``case_metric`` rows (``case_id``,
    ``metric``, ``label``, ``value``, None where undefined): one per metric and label, its
    cases in id order."""
    columns: dict[tuple[str, str], list[tuple[str, float]]] = {}
    for row in rows:
        value = np.nan if row["value"] is None else row["value"]
        columns.setdefault((row["metric"], row["label"]), []).append((row["case_id"], value))
    out = []
    for (metric, label), pairs in sorted(columns.items()):
        pairs.sort(key=lambda pair: pair[0])
        case_ids = [case_id for case_id, _ in pairs]
        values = np.array([value for _, value in pairs], dtype=VALUE_DTYPE)
        out.append({"evaluation": evaluation_id, "metric": metric, "label": label,
                    "case_ids": zlib.compress(json.dumps(case_ids).encode()),
                    "case_values": values.tobytes()})
    return out


def write_metric_arrays(conn: sa.Connection, evaluation_id: str,
                        rows: Sequence[Mapping[str, Any]]) -> None:
    """Replace the arrays of ``evaluation_id`` with those of its ``case_metric`` ``rows``."""
    conn.execute(case_metric_array.delete()
                 .where(case_metric_array.c.evaluation == evaluation_id))
    arrays = array_rows(evaluation_id, rows)
    if arrays:
        conn.execute(case_metric_array.insert(), arrays)


def stamp_case_metrics(conn: sa.Connection, case_set: str) -> None:
    """Record that values of ``case_set`` were replaced: a new random stamp (no counter to
    read first, so two writers cannot both write one value)."""
    key, stamp = STAMP_PREFIX + case_set, uuid.uuid4().hex
    if conn.execute(meta.update().where(meta.c.key == key).values(value=stamp)).rowcount == 0:
        conn.execute(meta.insert().values(key=key, value=stamp))


def drop_case_metrics_stamp(conn: sa.Connection, case_set: str) -> None:
    """Forget ``case_set``'s stamp, with the case set (a set made again starts without one)."""
    conn.execute(meta.delete().where(meta.c.key == STAMP_PREFIX + case_set))


def case_metrics_stamp(conn: sa.Connection, case_set: str) -> str | None:
    """The stamp the last replacement of ``case_set``'s per-case values wrote (None before
    any): it changes with every write, so it keys results computed from them."""
    return conn.execute(sa.select(meta.c.value)
                        .where(meta.c.key == STAMP_PREFIX + case_set)).scalar()


def fill_metric_arrays(conn: sa.Connection) -> int:
    """Write the arrays of every evaluation from its ``case_metric`` rows (the upgrade to
    schema version 4); return how many evaluations have values."""
    ids = list(conn.scalars(sa.select(case_metric.c.evaluation).distinct()))
    for evaluation_id in ids:
        stmt = (sa.select(case_metric.c.case_id, case_metric.c.metric, case_metric.c.label,
                          case_metric.c.value)
                .where(case_metric.c.evaluation == evaluation_id))
        write_metric_arrays(conn, evaluation_id, [row._mapping for row in conn.execute(stmt)])
    return len(ids)


@dataclass(frozen=True)
class MetricColumns:
    """Per-case values as integer codes into sorted names, one entry per value.

    ``codes`` and ``names`` are keyed by ``evaluation``, ``case_id``, ``metric`` and
    ``label``; ``names[key][codes[key]]`` spells a value's key out.
    """

    codes: dict[str, np.ndarray]
    names: dict[str, np.ndarray]
    values: np.ndarray


def read_metric_arrays(
    conn: sa.Connection,
    evaluation_ids: Sequence[str],
    *,
    metrics: Sequence[str] | None = None,
    labels: Sequence[str] | None = None,
    case_ids: Sequence[str] | None = None,
) -> MetricColumns:
    """The values of ``evaluation_ids`` (of ``metrics``, ``labels`` and ``case_ids`` only,
    when given) from their arrays.

    Raises:
        StoreError: an array's case ids and values differ in length (a damaged database).
    """
    table = case_metric_array
    stmt = sa.select(table.c.evaluation, table.c.metric, table.c.label, table.c.case_ids,
                     table.c.case_values).where(table.c.evaluation.in_(list(evaluation_ids)))
    if metrics is not None:
        stmt = stmt.where(table.c.metric.in_(list(metrics)))
    if labels is not None:
        stmt = stmt.where(table.c.label.in_(list(labels)))
    rows = [(evaluation_id, metric, label, bytes(ids), values)
            for evaluation_id, metric, label, ids, values in conn.execute(stmt)]
    lists = dict.fromkeys(ids for *_, ids, _ in rows)  # one case set's evaluations share one
    decoded = [json.loads(zlib.decompress(blob)) for blob in lists]
    names = {key: np.array(sorted({row[i] for row in rows}), dtype=object)
             for i, key in enumerate(("evaluation", "metric", "label"))}
    names["case_id"] = np.array(sorted(set().union(*decoded)), dtype=object)
    index = pd.Index(names["case_id"])
    case_codes = dict(zip(lists, (index.get_indexer(ids) for ids in decoded), strict=True))
    position = {key: {name: i for i, name in enumerate(names[key])} for key in names}
    parts: dict[str, list[np.ndarray]] = {key: [np.zeros(0, dtype=np.intp)] for key in names}
    value_parts = [np.zeros(0)]
    for evaluation_id, metric, label, ids, blob in rows:
        cases, values = case_codes[ids], np.frombuffer(blob, dtype=VALUE_DTYPE)
        if len(values) != len(cases):
            raise StoreError(f"the {metric} values of evaluation {evaluation_id!r} at label "
                             f"{label!r} are {len(values)} for {len(cases)} cases: the "
                             "database is damaged")
        parts["case_id"].append(cases)
        value_parts.append(values)
        for key, name in (("evaluation", evaluation_id), ("metric", metric), ("label", label)):
            parts[key].append(np.full(len(cases), position[key][name], dtype=np.intp))
    codes = {key: np.concatenate(part) for key, part in parts.items()}
    values = np.concatenate(value_parts)
    if case_ids is not None:
        keep = index.isin(list(case_ids))[codes["case_id"]]
        codes = {key: code[keep] for key, code in codes.items()}
        values = values[keep]
    return MetricColumns(codes, names, values)
