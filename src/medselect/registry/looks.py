"""How many looks a scope has had at its reference set, read from the registry's history.

Every gate that compared a candidate with at least one earlier version on the frozen
reference set was a chance to promote by luck, so it is a *look* and spends a share of the
scope's alpha (:mod:`medselect.registry.budget`). The registry keeps every gate's decision as
a version's evidence (``GateDecision.to_dict()``), so the looks are counted from there:

- a version counts when its evidence was judged on the same reference content hash
  (``evidence["data"]["reference_hash"]``) and names at least one incumbent;
- rejected, rolled-back and forced versions count too (a look is a look); a first version
  (no incumbent) and a registered candidate not yet judged spend nothing;
- another reference hash does not count: a refreshed reference set starts a fresh budget.

Example::

    with ws.connect() as conn:
        n = looks_before(conn, "knee", "global", reference_hash)
    look = criteria.look(n)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from medselect.config import PromotionSpec
from medselect.registry.budget import Budget, budget_after
from medselect.store import list_model_versions

__all__ = ["ScopeBudget", "count_looks", "looks_before", "scope_budget"]

def count_looks(evidences: Iterable[Mapping[str, Any]], reference_hash: str) -> int:
    """How many of the stored decisions ``evidences`` were looks at ``reference_hash``."""
    return sum(1 for e in evidences
               if e.get("incumbents") and (e.get("data") or {}).get("reference_hash")
               == reference_hash)


def looks_before(conn: sa.Connection, task: str, scope: str, reference_hash: str) -> int:
    """Looks already taken at the reference content ``reference_hash`` in ``task``'s ``scope``."""
    rows = list_model_versions(conn, task, scope)
    return count_looks((r["evidence"] or {} for r in rows), reference_hash)


@dataclass(frozen=True)
class ScopeBudget:
    """The error budget of one scope on the task's current reference set.

    Attributes:
        reference_case_set, reference_hash: the reference set the budget is spent on.
        budget: looks taken, alpha spent, the next look's level and the advice.
        protocol: where the spending rule was read (the experiment, a recorded decision or
            the defaults).
    """

    task: str
    scope: str
    reference_case_set: str
    reference_hash: str
    budget: Budget
    protocol: str

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "scope": self.scope,
                "reference_case_set": self.reference_case_set,
                "reference_hash": self.reference_hash, "protocol": self.protocol,
                **self.budget.to_dict()}


def scope_budget(
    conn: sa.Connection,
    task: str,
    scope: str,
    reference: Mapping[str, Any],
    spending: Mapping[str, Any] | None = None,
) -> ScopeBudget:
    """The budget of ``scope`` on the case set row ``reference``.

    Args:
        spending: ``alpha``, ``alpha_spending`` and ``max_looks`` (a promotion section or
            gate criteria as a dict); default the ones recorded with the scope's newest gate
            decision, else the promotion section's defaults.
    """
    evidences = [r["evidence"] or {} for r in list_model_versions(conn, task, scope)]
    protocol = "the experiment's promotion section"
    if spending is None:
        recorded = [e["criteria"] for e in evidences if e.get("criteria")]
        spending = recorded[-1] if recorded else PromotionSpec().model_dump()
        protocol = ("the newest gate decision in this scope" if recorded
                    else "the promotion section's defaults")
    looks = count_looks(evidences, reference["content_hash"])
    budget = budget_after(looks, float(spending["alpha"]), spending["alpha_spending"],
                          int(spending["max_looks"]))
    return ScopeBudget(task, scope, reference["id"], reference["content_hash"], budget, protocol)
