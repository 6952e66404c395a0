"""Expert reviews: a reviewer's verdict on one model's prediction for one case.

Every function takes a :class:`~sqlalchemy.Connection` first (from ``Workspace.begin()`` for
writes) and returns plain dicts keyed by column name. Reviews are only ever added; when a
reviewer judges the same prediction again, the newest verdict is the one that counts in
:func:`acceptance_rates` (older ones stay as history). :func:`review_table` gives the current
verdicts as rows of the per-case table, which ranking reads as the ``acceptance`` metric.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa

from medselect.casetable import CASE_LABEL
from medselect.errors import StoreError
from medselect.store._rows import check_choice, fetch_all, fetch_one, rejected, where_given
from medselect.store.datasets import get_case_set
from medselect.store.evaluations import (
    case_attributes,
    empty_table,
    latest_evaluations,
    with_case_attributes,
)
from medselect.store.schema import VERDICTS, review

MAX_REVIEWER_LENGTH = 100
MAX_COMMENT_LENGTH = 5000


def add_review(
    conn: sa.Connection,
    *,
    model_ref: str,
    case_set: str,
    case_id: str,
    reviewer: str,
    verdict: str,
    comment: str = "",
) -> dict[str, Any]:
    """Store one verdict (``acceptable`` or ``not_acceptable``); return the new row.

    Raises:
        NotFound: the case set is missing.
        StoreError: the verdict is not one of :data:`~medselect.store.schema.VERDICTS`, the
            reviewer name is empty or longer than :data:`MAX_REVIEWER_LENGTH`, or the comment
            is longer than :data:`MAX_COMMENT_LENGTH` characters.
    """
    what = f"review of model {model_ref!r} on case {case_id!r}"
    check_choice(verdict, VERDICTS, f"{what}: verdict")
    reviewer = reviewer.strip()
    if not reviewer or len(reviewer) > MAX_REVIEWER_LENGTH:
        raise StoreError(f"{what}: the reviewer name must have 1 to {MAX_REVIEWER_LENGTH} "
                         f"characters, got {len(reviewer)}")
    if len(comment) > MAX_COMMENT_LENGTH:
        raise StoreError(f"{what}: the comment has {len(comment)} characters; at most "
                         f"{MAX_COMMENT_LENGTH} are kept, shorten it")
    get_case_set(conn, case_set)
    values = {"model_ref": model_ref, "case_set": case_set, "case_id": case_id,
              "reviewer": reviewer, "verdict": verdict, "comment": comment}
    try:
        result = conn.execute(review.insert().values(values))
    except sa.exc.IntegrityError as exc:
        raise rejected(what, exc) from exc
    review_id = result.inserted_primary_key[0]
    return fetch_one(conn, sa.select(review).where(review.c.id == review_id), "review", review_id)


def list_reviews(
    conn: sa.Connection,
    case_set: str | None = None,
    model_ref: str | None = None,
    case_id: str | None = None,
) -> list[dict[str, Any]]:
    """Reviews, oldest first (ties broken by id), filtered by the arguments."""
    stmt = sa.select(review).order_by(review.c.created_at, review.c.id)
    filters = {"case_set": case_set, "model_ref": model_ref, "case_id": case_id}
    return fetch_all(conn, where_given(stmt, review, filters))


def acceptance_rates(conn: sa.Connection, case_set: str) -> dict[str, tuple[int, int]]:
    """Per model on ``case_set``: ``(accepted, reviewed)`` counted over current verdicts.

    A current verdict is the newest one of each reviewer on each case, so a reviewer who
    changes their mind is counted once. Models without reviews are absent.

    Raises:
        NotFound: the case set is missing.
    """
    rates: dict[str, tuple[int, int]] = {}
    for (model_ref, _), (accepted, reviewed) in acceptance_by_case(conn, case_set).items():
        total = rates.get(model_ref, (0, 0))
        rates[model_ref] = (total[0] + accepted, total[1] + reviewed)
    return rates


def acceptance_by_case(
    conn: sa.Connection, case_set: str, model_ref: str | None = None, case_id: str | None = None
) -> dict[tuple[str, str], tuple[int, int]]:
    """Per ``(model_ref, case_id)``: ``(accepted, reviewed)`` over current verdicts (see
    :func:`acceptance_rates`), optionally for one model or one case.

    Raises:
        NotFound: the case set is missing.
    """
    get_case_set(conn, case_set)
    current: dict[tuple[str, str, str], str] = {}
    for row in list_reviews(conn, case_set=case_set, model_ref=model_ref, case_id=case_id):
        current[row["model_ref"], row["case_id"], row["reviewer"]] = row["verdict"]
    counts: dict[tuple[str, str], tuple[int, int]] = {}
    for (ref, case, _), verdict in current.items():
        accepted, reviewed = counts.get((ref, case), (0, 0))
        counts[ref, case] = (accepted + (verdict == "acceptable"), reviewed + 1)
    return counts


def review_table(
    conn: sa.Connection, *, case_set: str, metric: str,
    model_refs: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Expert verdicts as rows of the per-case table, so ranking reads them as it reads metrics.

    For every model with a finished evaluation on ``case_set`` (only ``model_refs`` when
    given) and every case reviewed for any of them: the share of the model's current verdicts
    on the case that are acceptable (see :func:`acceptance_rates`), as ``metric`` at label
    ``case``, with the case attributes; NaN where that model's prediction of the case was not
    reviewed, so a model without any review is in the table with NaN only. No row when
    nothing was reviewed.

    Raises:
        NotFound: the case set is missing.
    """
    counts = acceptance_by_case(conn, case_set)
    models = sorted(latest_evaluations(conn, case_set, model_refs))
    cases = sorted({case_id for ref, case_id in counts if ref in models})
    if not cases:
        return empty_table()
    rows = [(ref, case_id, metric, CASE_LABEL, _share(counts.get((ref, case_id))))
            for ref in models for case_id in cases]
    frame = pd.DataFrame(rows, columns=["model", "case_id", "metric", "label", "value"])
    return with_case_attributes(frame, case_attributes(conn, case_set))


def _share(counts: tuple[int, int] | None) -> float:
    return float("nan") if counts is None else counts[0] / counts[1]


def review_stamp(conn: sa.Connection, case_set: str) -> tuple[int, int]:
    """``(number of reviews, newest review id)`` of ``case_set`` (``(0, 0)`` before any): it
    changes with every review, so it keys cached results that read them."""
    stmt = sa.select(sa.func.count(review.c.id), sa.func.max(review.c.id)).where(
        review.c.case_set == case_set)
    count, newest = conn.execute(stmt).one()
    return int(count), int(newest or 0)
