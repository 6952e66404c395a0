"""The gate run on what the workspace holds: incumbents, reference set, per-case table.

:func:`gate_for` gathers the evidence for one candidate in one task and scope and hands it to
:func:`~medselect.registry.gate.evaluate_gate`; the decision records the data versions it was
computed on and the look it ran at (how many gates the scope has had on that reference set),
which :func:`~medselect.registry.versions.promote` checks again before applying it. Metric
directions come from :func:`medselect.metrics.get_metric`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import sqlalchemy as sa

from medselect.data.importer import latest_training_version
from medselect.errors import RegistryError
from medselect.metrics import SET_METRICS, get_metric
from medselect.rank import source_metrics
from medselect.registry.candidates import CandidateChoice
from medselect.registry.checks import (
    check_evaluated,
    check_promotable,
    check_reference,
    check_same_reference,
)
from medselect.registry.criteria import GateCriteria
from medselect.registry.decision import GateDecision
from medselect.registry.gate import SITE_COLUMN, evaluate_gate
from medselect.registry.looks import looks_before
from medselect.registry.scope import parse_scope, scope_site
from medselect.registry.versions import current_champion, incumbents
from medselect.store import case_metric_table

__all__ = ["gate_for", "reference_case_set"]


def reference_case_set(conn: sa.Connection, task: str) -> str:
    """The reference case set recorded on the newest dataset version ``task`` trains on
    (versions holding only new cases to evaluate on record none and are passed over).

    Raises:
        RegistryError: the task has no dataset version, or its newest one names no reference
            set.
    """
    version = latest_training_version(conn, task)
    if version is None:
        raise RegistryError(f"task {task!r} has no dataset version; run `medselect data "
                            "import` or `medselect sweep run` first")
    if not version["reference_case_set"]:
        raise RegistryError(f"dataset version {version['id']!r} of task {task!r} has no "
                            "reference case set; freeze one (case set of kind 'reference') "
                            "before promoting")
    return version["reference_case_set"]


def gate_for(
    conn: sa.Connection,
    task: str,
    scope: str,
    candidate: str,
    criteria: GateCriteria,
    *,
    case_set: str | None = None,
    directions: Mapping[str, str] | None = None,
    choice: CandidateChoice | None = None,
) -> GateDecision:
    """Judge ``candidate`` against the versions of ``task`` in ``scope`` on the reference set.

    A ``site:<name>`` scope is judged on that site's cases only. The decision's ``data``
    records the task, scope, reference case set, its content hash and dataset version, and
    the evaluation each model's values came from. Its ``look`` is the scope's next look at
    that reference content (:func:`~medselect.registry.looks.looks_before` counts the earlier
    ones), at the level the protocol's alpha spending gives it, divided by
    ``choice.chosen_from``.

    Args:
        case_set: the reference case set; default the one of the task's newest dataset version.
        directions: ``{metric: "higher" | "lower"}``; default each metric's declared direction.
        choice: how the candidate was chosen (:mod:`medselect.registry.candidates`); default named
            before the reference set was looked at (K = 1).

    A champion judged on another reference set does not stop the gate (both models were
    evaluated on this one), but a note says so and ``promote`` refuses it unless forced or a
    recorded refresh leads from that reference set to this one.

    Raises:
        RegistryError: the candidate cannot be promoted (unknown, failed run), a model has no
            finished evaluation on the reference set, a case of the reference set changed,
            the models were not evaluated on the same cases, or the scope's site has no cases.
    """
    scope = parse_scope(scope)
    choice = choice or CandidateChoice()
    check_promotable(conn, task, candidate)
    reference = check_reference(conn, case_set or reference_case_set(conn, task))
    others = [r for r in incumbents(conn, task, scope, criteria.compare_with) if r != candidate]
    data = {"task": task, "scope": scope, "reference_case_set": reference["id"],
            "reference_hash": reference["content_hash"],
            "reference_dataset_version": reference["dataset_version"]}
    data["evaluations"] = check_evaluated(conn, reference["id"], [candidate, *others])
    table = case_metric_table(conn, case_set=reference["id"], model_refs=[candidate, *others],
                              metrics=source_metrics(criteria.metrics, SET_METRICS))
    site = scope_site(scope)
    if site is not None:
        table = table[table[SITE_COLUMN] == site]
        if table.empty:
            raise RegistryError(f"reference case set {reference['id']!r} has no values for "
                                f"site {site!r}; check the site name or evaluate its cases")
    if directions is None:
        directions = {m: get_metric(m).direction.value for m in criteria.metrics}
    look = criteria.look(looks_before(conn, task, scope, reference["content_hash"]),
                         chosen_from=choice.chosen_from, chosen_on=choice.chosen_on)
    decision = evaluate_gate(candidate, others, table, criteria, directions=directions, data=data,
                             set_metrics=SET_METRICS, look=look)
    try:
        check_same_reference(conn, current_champion(conn, task, scope), data, forced=False)
    except RegistryError as exc:  # promote refuses it unless forced; say so now
        return replace(decision, notes=(*decision.notes, str(exc)))
    return decision
