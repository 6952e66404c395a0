"""New cases: the "review first" queue, input drift and output signals of one case set, as
:mod:`medselect.evaluate.newcases` computes them (this module only shapes them for the page and
the JSON API, and caches them until a review or an evaluation changes)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel

from medselect.dashboard import queries
from medselect.dashboard.context import Dashboard
from medselect.dashboard.schemas import CaseSetInfo
from medselect.errors import NotFound
from medselect.evaluate.drift import DRIFT_ALPHA, DRIFT_OUTSIDE
from medselect.evaluate.newcases import (
    InputDrift,
    find_case_set,
    input_drift,
    output_signals,
    review_queue,
)
from medselect.store import Workspace, review_stamp

NOT_SHOWN = (
    "Drift says the new images differ from the training images, not that a model fails on "
    "them; output signals say the predictions differ from the test split's, not which is "
    "right. p-values are per feature and site, uncorrected; with few patients the KS test "
    "cannot show drift, and a single new patient often lies outside the range of a few. "
    "Disagreement finds cases where at least one top model is wrong; models that agree may "
    "share a mistake.")


class ReviewQueuePage(BaseModel):
    """What ``/case-sets/{id}/review`` shows and ``/api/case-sets/{id}/review-queue`` answers."""

    case_set: CaseSetInfo
    measure: str
    top_models: list[str]
    basis: str
    cases: list[dict[str, Any]]
    drifting: dict[str, list[str]]
    drift: list[dict[str, Any]]
    signals: list[dict[str, Any]]
    test_case_set: str | None
    training_version: str
    notes: list[str]
    drift_rule: str
    not_shown: str = NOT_SHOWN


def _input_drift(ws: Workspace, task: str, case_set: str) -> InputDrift:
    try:
        return input_drift(ws, task, case_set)
    except NotFound as exc:  # a workspace without training images: the queue stands alone
        return InputDrift.unavailable(task, case_set, f"no input drift: {exc}")


def review_queue_view(dash: Dashboard, conn: sa.Connection, case_set: str) -> ReviewQueuePage:
    """The queue (most disagreement first), drift and signals of ``case_set`` (an id, a name
    of the task's sets, or the name of a set of new cases).

    Raises:
        NotFound: no such case set, or no model evaluated on it.
    """
    try:
        scope = queries.resolve_scope(conn, case_set)
    except NotFound:
        choices = queries.case_set_choices(conn)
        if not choices:
            raise
        named = find_case_set(conn, queries.default_task(choices), case_set)
        scope = queries.resolve_scope(conn, named["id"])
    ws, task = dash.workspace, scope.task
    # drift reads every training image: cached per evaluation state, not per review
    inputs, outputs = dash.cache.get_or_compute(
        ("new-case-drift", scope.key),
        lambda: (_input_drift(ws, task, scope.id), output_signals(ws, task, scope.id)))
    queue = dash.cache.get_or_compute(("review-queue", scope.key, review_stamp(conn, scope.id)),
                                      lambda: review_queue(ws, task, scope.id))
    return ReviewQueuePage(
        case_set=scope.info(), measure=queue.measure, top_models=list(queue.top.models),
        basis=queue.top.basis, cases=[e.to_dict() for e in queue.entries],
        drifting=inputs.drifting, drift=inputs.to_dict()["features"],
        signals=outputs.to_dict()["signals"], test_case_set=outputs.test_case_set,
        training_version=inputs.training_version,
        notes=[*queue.notes, *inputs.notes, *outputs.notes],
        drift_rule=(f"drift: KS p < {DRIFT_ALPHA:g}, or at least {DRIFT_OUTSIDE:.0%} of the new "
                    "patients outside the reference range"))
