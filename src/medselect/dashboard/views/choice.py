"""The task's model choice beside its leaderboards: chosen on one case set, confirmed on another.

It is :func:`medselect.choose.choose_model` under the task's ranking rules, the call
``medselect rank`` makes, computed once per rules and evaluations and cached. Every leaderboard
of the task shows it from the point of view of the case set on screen: the set that chose, the
set that confirms, both (the figure is then biased by the choice and given bias-corrected), or
another set.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from medselect.choose import Confirmation, ModelChoice, choose_model
from medselect.config import RankingSpec
from medselect.dashboard import queries
from medselect.dashboard.context import Dashboard
from medselect.dashboard.schemas import BiasCorrected, ChoiceSummary, ConfirmedFigure
from medselect.data import named_case_set
from medselect.errors import MedselectError, NotFound
from medselect.store import get_case_set, review_stamp

__all__ = ["TaskChoice", "case_set_name", "choice_summary", "confirmed_figure", "task_choice"]

SITE = "site"


@dataclass(frozen=True, eq=False)
class TaskChoice:
    """The task's :class:`~medselect.choose.ModelChoice`, or why there is none."""

    choice: ModelChoice | None
    note: str | None = None


def task_choice(dash: Dashboard, conn: sa.Connection, task: str,
                spec: RankingSpec | None = None) -> TaskChoice:
    """The choice under the task's ranking rules (or ``spec``, the rules asking another
    question, as ``medselect rank --metric ... --by site`` does), cached until the rules or
    the evaluations of its selection or confirmation set change. A choice that cannot be made
    (nothing evaluated on either set, a ranking metric that was not evaluated) is a note, not
    an error: the leaderboards still show."""
    spec = spec or queries.task_rules(dash, conn, task).spec
    reviews = any(queries.reads_reviews(m) for m in spec.metrics())
    key = ("choice", task, spec.model_dump_json(),
           _evaluated(dash, conn, task, spec.selection.case_set, reviews),
           _evaluated(dash, conn, task, spec.confirmation, reviews))

    def compute() -> TaskChoice:
        try:
            return TaskChoice(choose_model(conn, task, spec))
        except MedselectError as exc:
            return TaskChoice(None, f"no model choice under the task's ranking rules: {exc}")
    return dash.cache.get_or_compute(key, compute)


def _evaluated(dash: Dashboard, conn: sa.Connection, task: str, which: str,
               reviews: bool) -> tuple | None:
    """What the choice read of the case set ``which`` names: its scope's key, and its review
    stamp when the rules rank by the experts' verdicts (None if there is no such set)."""
    try:
        row = named_case_set(conn, task, which)
    except NotFound:
        return None
    key = queries.scope_of(dash, conn, row["id"]).key
    return (key, review_stamp(conn, row["id"])) if reviews else key


def choice_summary(conn: sa.Connection, made: ModelChoice, case_set: str, site: str | None,
                   *, this_board: bool) -> ChoiceSummary:
    """The choice as the leaderboard of ``case_set`` (and ``site``) tells it.

    ``this_board``: the leaderboard on screen is the very ranking that made the choice.
    """
    board = made.report.leaderboard
    if made.same_set:
        role = "both" if case_set == made.selection_set else "other"
    else:
        role = {made.selection_set: "selection",
                made.confirmation_set: "confirmation"}.get(case_set, "other")
    figures = [confirmed_figure(c, None) for c in made.confirmations]
    if site is not None:
        confirmed = made.confirmation_in(SITE, site)
        figures += [confirmed_figure(confirmed, site)] if confirmed is not None else []
    return ChoiceSummary(
        model=made.chosen, metric=board.metric, label=board.label, aggregate=board.aggregate,
        reason=board.reason, selection_set=made.selection_set,
        selection_name=case_set_name(conn, made.selection_set),
        confirmation_set=made.confirmation_set,
        confirmation_name=case_set_name(conn, made.confirmation_set),
        selection_n_cases=board.n_cases, selection_n_patients=board.n_patients,
        same_set=made.same_set, role=role, this_board=this_board, figures=figures,
        notes=list(made.notes))


def case_set_name(conn: sa.Connection, case_set: str) -> str:
    """A case set's name (``val``, ``test``, ...); a cross-validation's selection set is no
    stored case set and is named by its id (``out-of-fold (5 folds of ...)``)."""
    try:
        return get_case_set(conn, case_set)["name"]
    except NotFound:
        return case_set


def confirmed_figure(c: Confirmation, site: str | None) -> ConfirmedFigure:
    """A :class:`~medselect.choose.Confirmation` as the pages show it (``site`` None: all
    cases of the confirmation set)."""
    k = c.corrected
    corrected = None if k is None else BiasCorrected(
        method=k.method, model=k.model, value=queries.number(k.corrected),
        ci_low=queries.number(k.ci_low), ci_high=queries.number(k.ci_high),
        bias=queries.number(k.bias))
    return ConfirmedFigure(
        site=site, model=c.model, metric=c.metric, label=c.label, aggregate=c.aggregate,
        case_set=c.case_set, value=queries.number(c.value), ci_low=queries.number(c.ci_low),
        ci_high=queries.number(c.ci_high), n_cases=c.n_cases, n_patients=c.n_patients,
        corrected=corrected, note=c.note)
