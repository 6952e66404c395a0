"""The sites page: the best model per site, exactly as ``medselect rank --by site`` chooses it.

The task's choice (:func:`~medselect.dashboard.views.choice.task_choice`, the call
``medselect rank`` makes) ranked by site, shaped by :func:`medselect.choose.group_table`, the
function behind the CLI's table: runner-up, margin with its interval, the runner-up's standing
and the paired p-value, patients, and each site's figure on its confirmation cases. The page's
metric, label and aggregate replace the rules' own as ``--metric``, ``--label`` and ``--agg``
do; ``by`` always holds ``site``. Cached with the choice.
"""

from __future__ import annotations

import sqlalchemy as sa

from medselect import rank
from medselect.choose import GroupRow, group_table
from medselect.config import RankingSpec
from medselect.dashboard import queries
from medselect.dashboard.context import Dashboard
from medselect.dashboard.schemas import SiteChoice, SitesPage
from medselect.dashboard.views.choice import SITE, case_set_name, confirmed_figure, task_choice
from medselect.dashboard.views.leaderboard import aggregate_choices
from medselect.errors import NotFound, RankingError
from medselect.rank.selection import MIN_GROUP_PATIENTS
from medselect.store import get_case_set

__all__ = ["sites_view"]


def sites_view(dash: Dashboard, conn: sa.Connection, *, case_set: str | None = None,
               metric: str | None = None, label: str | None = None,
               aggregate: str | None = None) -> SitesPage:
    """The site -> model table of the task of ``case_set`` (default: the dashboard's task).

    Raises:
        NotFound: nothing was evaluated, or an unknown metric or label was asked for.
        RankingError: no choice can be made (the message says why), or an unknown aggregate.
    """
    task = queries.scope_of(dash, conn, case_set).task
    rules = queries.task_rules(dash, conn, task)
    # the metrics of the set the task's pages open on (``case_set`` may be an unlabelled upload)
    opens_on = queries.scope_of(dash, conn, queries.task_case_set(conn, task))
    catalog = queries.ranked_catalog(dash, conn, opens_on)
    if metric:  # checked here, with the evaluated metrics listed, before anything is ranked
        label = queries.label_of(queries.find_metric(catalog, metric), label)
    made = task_choice(dash, conn, task, _spec(rules.spec, metric, label, aggregate))
    if made.choice is None:
        raise RankingError(made.note or "no model choice could be made")
    choice = made.choice
    table = group_table(choice, SITE)
    board = choice.report.leaderboard
    board_set = _board_set(conn, choice.selection_set, choice.confirmation_set)
    info = next((m for m in catalog if m.name == board.metric), None)
    return SitesPage(
        task=task, metric=board.metric, label=board.label, aggregate=board.aggregate,
        direction=board.direction.value, unit="none" if info is None else info.unit,
        value_name=(board.metric if board.aggregate == board.metric
                    else f"{board.aggregate} {board.metric}"),
        selection_set=choice.selection_set,
        selection_name=case_set_name(conn, choice.selection_set),
        confirmation_set=choice.confirmation_set,
        confirmation_name=case_set_name(conn, choice.confirmation_set),
        same_set=choice.same_set, board_set=board_set,
        board_metric=board.metric if info is not None else None,
        rows=[_row(r, r.group) for r in table.rows], overall=_row(table.overall, None),
        same_model=table.same_model, differs=table.selection.differs, verdict=table.verdict,
        thin=list(table.thin), min_patients=MIN_GROUP_PATIENTS,
        alpha=board.statistics.alpha, confidence=board.statistics.confidence,
        notes=[*table.selection.notes, *choice.notes], metrics=catalog,
        aggregates=aggregate_choices(rules.spec, board.direction.value, board.aggregate)
        if info is not None and info.per_case else [],
        aggregate_fixed=info is None or not info.per_case,
        rules="experiment" if rules.stored else "default")


def _spec(base: RankingSpec, metric: str | None, label: str | None,
          aggregate: str | None) -> RankingSpec:
    """The rules asking the page's question, by site (as the CLI's options change them)."""
    updates: dict[str, object] = {"by": list(dict.fromkeys([*base.by, SITE]))}
    if metric:  # one metric replaces a weighted mix, as `medselect rank --metric` does
        updates |= {"metric": metric, "weights": {}}
    if label:
        updates["label"] = label
    if aggregate:
        updates["aggregate"] = rank.parse_aggregate(aggregate).name
    return base.model_copy(update=updates)


def _board_set(conn: sa.Connection, selection: str, confirmation: str) -> str:
    """The selection set when it is a stored case set, else (a cross-validation's
    out-of-fold table) the confirmation set."""
    try:
        return get_case_set(conn, selection)["id"]
    except NotFound:
        return confirmation


def _row(row: GroupRow, site: str | None) -> SiteChoice:
    """One row of the table; ``site`` None for the overall choice."""
    c, n = row.choice, queries.number
    return SiteChoice(
        site=c.group, model=c.model, reason=c.reason, aggregate=n(c.aggregate),
        ci_low=n(c.ci_low), ci_high=n(c.ci_high), ci_reliable=c.ci_reliable,
        n_cases=c.n_cases, n_patients=c.n_patients, runner_up=c.runner_up,
        runner_up_standing=c.runner_up_standing, margin=n(c.margin),
        margin_ci_low=n(c.margin_ci_low), margin_ci_high=n(c.margin_ci_high),
        p_vs_runner_up=n(c.p_vs_runner_up), win_significant=c.win_significant,
        decided_by_tie_break=c.decided_by_tie_break, gain_over_overall=n(c.gain_over_overall),
        p_vs_overall=n(c.p_vs_overall),
        confirmed=None if row.confirmation is None else confirmed_figure(row.confirmation,
                                                                          site),
        thin=row.thin)
