"""How a candidate came to face the gate: named on the selection set, or picked on the
reference set itself.

The selection set (the validation split of the dataset version that records the reference
set: case set ``<version>-val``) chooses; the reference set confirms. A candidate named
before the reference set was looked at has one chance to pass the gate by luck; one picked as
the best of K models on the reference set has had K, so the gate divides its level by K
(Bonferroni, :class:`medselect.registry.budget.Look`).

- A promotion (:func:`named_choice`): rank the task's models evaluated on the selection set by
  the experiment's ranking (on the scope's site only, for a site scope). The candidate counts
  as named before looking (K = 1) when it comes first and every other model evaluated on the
  reference set, the versions it must beat aside, was among those ranked (otherwise it may
  have been picked from them on the reference set). Else K is the number of the task's models
  with a finished evaluation on the reference set.
- An upgrade (:func:`pick_candidate`): the candidates are ranked on the scope's selection
  cases and the first is gated with K = 1; when the new dataset version has no validation
  cases there, they are ranked on the reference set and the first is gated with K = the
  number of candidates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from medselect.config import RankingSpec
from medselect.data.casesets import (
    VAL,
    latest_training_version,
    named_case_set,
    split_case_set_id,
)
from medselect.errors import NotFound, RegistryError
from medselect.registry.ordering import rank_models
from medselect.registry.scope import scope_site
from medselect.store import case_set_members, get_case_set, latest_evaluations

__all__ = ["CandidateChoice", "named_choice", "pick_candidate", "selection_case_set"]

@dataclass(frozen=True)
class CandidateChoice:
    """How many models the candidate was picked from on the reference set (1: named before
    looking), and where it was chosen, in words (``Look.chosen_from`` and ``chosen_on``)."""

    chosen_from: int = 1
    chosen_on: str | None = None

    @classmethod
    def on_selection(cls, case_set: str) -> CandidateChoice:
        return cls(1, f"chosen on the selection set {case_set}")

    @classmethod
    def on_reference(cls, k: int, why: str) -> CandidateChoice:
        if k <= 1:
            return cls(1, f"no other model on the reference set to pick it from ({why})")
        return cls(k, f"picked on the reference set from {k} models ({why})")

    def to_dict(self) -> dict[str, Any]:
        return {"chosen_from": self.chosen_from, "chosen_on": self.chosen_on}


def selection_case_set(conn: sa.Connection, task: str, version: str | None = None, *,
                       which: str = VAL) -> str | None:
    """The selection set of dataset ``version`` (default: the task's newest training version,
    the one that records the reference set), or None when it is missing or empty. ``which``
    is the ranking's ``selection.case_set``: another name or id than ``val`` is resolved as
    :func:`medselect.data.named_case_set` does."""
    if which != VAL:
        try:
            return named_case_set(conn, task, which)["id"]
        except NotFound:
            return None
    if version is None:
        row = latest_training_version(conn, task)
        if row is None:
            return None
        version = row["id"]
    try:
        case_set = get_case_set(conn, split_case_set_id(version, VAL))
    except NotFound:
        return None
    return case_set["id"] if case_set_members(conn, case_set["id"]) else None


def named_choice(
    conn: sa.Connection,
    task: str,
    scope: str,
    candidate: str,
    reference: str,
    ranking: RankingSpec,
    *,
    incumbents: Sequence[str] = (),
) -> CandidateChoice:
    """Whether ``candidate`` was named before the reference set was looked at (module rule).

    Call it after every model of the gate is evaluated on ``reference`` (the count includes
    them).
    """
    on_reference = set(latest_evaluations(conn, reference))
    k = len(on_reference)
    selection = selection_case_set(conn, task, which=ranking.selection.case_set)
    if selection is None:
        return CandidateChoice.on_reference(k, "the task has no selection set (validation "
                                               "split)")
    ranked_there = list(latest_evaluations(conn, selection))
    if candidate not in ranked_there:
        return CandidateChoice.on_reference(k, f"{candidate} has no evaluation on the "
                                               f"selection set {selection}")
    unranked = sorted(on_reference - set(ranked_there) - set(incumbents))
    if unranked:
        return CandidateChoice.on_reference(k, f"{unranked} were evaluated on the reference "
                                               f"set but not on the selection set {selection}")
    try:
        ranked = rank_models(conn, task, selection, ranked_there, ranking,
                             site=scope_site(scope))
    except RegistryError as exc:
        return CandidateChoice.on_reference(k, str(exc))
    if not ranked or ranked[0] != candidate:
        first = ranked[0] if ranked else "no model"
        return CandidateChoice.on_reference(k, f"the selection set {selection} ranks {first} "
                                               "first")
    return CandidateChoice.on_selection(selection)


def pick_candidate(
    conn: sa.Connection,
    task: str,
    scope: str,
    candidates: Sequence[str],
    ranking: RankingSpec,
    *,
    reference: str,
    selection: str | None,
) -> tuple[list[str], CandidateChoice]:
    """The candidates in the ranking's order for ``scope`` (best first), and how the first
    was chosen: on the selection set, or on the reference set when the selection set has no
    case in the scope.

    Raises:
        RegistryError: the ranking cannot be made (the message says why).
    """
    site = scope_site(scope)
    if selection is not None and any(site is None or c["site"] == site
                                      for c in case_set_members(conn, selection)):
        return (rank_models(conn, task, selection, candidates, ranking, site=site),
                CandidateChoice.on_selection(selection))
    where = "" if site is None else f" at site {site!r}"
    why = f"the new dataset version has no validation case{where}"
    return (rank_models(conn, task, reference, candidates, ranking, site=site),
            CandidateChoice.on_reference(len(candidates), why))
