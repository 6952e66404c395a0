"""A sample workspace as wide as the demo's: its six metrics, three sites, expert reviews and a
registry history, for the pages whose layout and content depend on them (the 1440 px table,
the sites page, the registry page) and for the README's screenshots.

The metrics the sample lacks (IoU, NSD, relative volume difference from each case's Dice; ASSD
from its HD95) are derived, not computed: they only need to be there, in the demo's order.
"""

from __future__ import annotations

import math
from pathlib import Path

from medselect.registry import GateCriteria, MetricMargin, promote_through_gate, rollback
from medselect.store import (
    Workspace,
    add_review,
    case_metric_table,
    list_evaluations,
    replace_case_metrics,
    set_reference_case_set,
)
from medselect.testing.sample import CASE_SET, VERSION, build_sample_workspace, case_name
from medselect.testing.sample_kinds import SAMPLE_KINDS

SITES = ("north", "south", "east")
TASK = SAMPLE_KINDS["segmentation"].task
CRITERIA = GateCriteria(MetricMargin("dice", margin=0.0), min_patients=5, n_resamples=200)
DERIVED = {"dice": (("iou", lambda d: d / (2 - d)), ("nsd", lambda d: min(1.0, d + 0.05)),
                    ("volume_diff_rel", lambda d: 30 * (1 - d))),
           "hd95": (("assd", lambda h: h / 4),)}


def build_wide_sample(root: Path, *, n_models: int = 8, n_cases: int = 40,
                      n_val_cases: int = 30) -> None:
    """Fill ``root`` (closed when done)."""
    ws = build_sample_workspace(root, n_models=n_models, n_cases=n_cases,
                                n_val_cases=n_val_cases, sites=SITES)
    try:
        _add_metrics(ws)
        _add_reviews(ws)
        add_registry_history(ws)
    finally:
        ws.dispose()


def _add_metrics(ws: Workspace) -> None:
    with ws.begin() as conn:
        for evaluation in list_evaluations(conn, status="finished"):
            table = case_metric_table(conn, case_set=evaluation["case_set"],
                                      model_refs=[evaluation["model_ref"]])
            rows = table[["case_id", "metric", "label", "value"]].to_dict("records")
            rows += [{**row, "metric": name, "value": derive(row["value"])
                      if not math.isnan(row["value"]) else row["value"]}
                     for row in list(rows) for name, derive in DERIVED.get(row["metric"], ())]
            replace_case_metrics(conn, evaluation["id"], rows)


def _add_reviews(ws: Workspace) -> None:
    """Dr. Ada reviewed the first 12 test cases of the two best models; run-002 was never
    reviewed."""
    with ws.begin() as conn:
        for model, rejected in (("run-000", {3, 7}), ("run-001", {1, 4, 9})):
            for i in range(12):
                add_review(conn, model_ref=model, case_set=CASE_SET, case_id=case_name(i),
                           reviewer="Dr. Ada",
                           verdict="not_acceptable" if i in rejected else "acceptable")


def add_registry_history(ws: Workspace) -> None:
    """The test set frozen as the reference set; in global run-001 forced in, rolled back,
    then run-002 rejected; at site north run-000 promoted first, then run-001 rejected."""
    with ws.begin() as conn:
        set_reference_case_set(conn, VERSION, CASE_SET)
    for scope, run, force in (("global", "run-001", "site lead asked for it"),
                              ("global", "run-002", None), ("site:north", "run-000", None),
                              ("site:north", "run-001", None)):
        promote_through_gate(ws, TASK, scope, run, CRITERIA, actor="bob", force_reason=force)
        if force:
            rollback(ws, TASK.name, scope, "carol", "dice dropped at site south")
