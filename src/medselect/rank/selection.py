"""Selection: the best model per subgroup (site, scanner, ...) under a preference, with evidence.

For every value of a case attribute the preference is ranked on that subgroup's cases alone
(constraints included: a model must meet them at *that* site). Each choice carries its
aggregate and interval, whether its win over the runner-up is significant (one paired test on
the subgroup's patients, uncorrected: it is the single comparison asked about), its probability
of being the best, and how much better it is than the overall choice on the same cases. The
result answers "does the best model differ between sites, and by how much?"; a subgroup with
fewer than :data:`MIN_GROUP_PATIENTS` patients is named in the notes, since a choice there
rests on almost nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from medselect.casetable import KEY_COLUMNS
from medselect.errors import RankingError
from medselect.jsonsafe import json_number
from medselect.rank.aggregate import Aggregate
from medselect.rank.bootstrap import percentile_interval
from medselect.rank.lazy import LazyMapping
from medselect.rank.leaderboard import Leaderboard, LeaderboardRow, Standing, Statistics
from medselect.rank.paired import compare
from medselect.rank.preference import (
    Preference,
    PreferenceRanking,
    preference_matrices,
    rank_matrices,
    restrict,
)
from medselect.rank.setmetric import SetMetrics
from medselect.rank.table import Direction, ScoreMatrix

__all__ = ["MIN_GROUP_PATIENTS", "Choice", "GroupChoice", "Selection", "group_choices", "select"]

OVERALL = "(all)"

MIN_GROUP_PATIENTS = 3
"""A subgroup with fewer patients than this is reported as too small to choose for."""


@dataclass(frozen=True)
class Choice:
    """The model chosen for one subgroup and the evidence for it.

    ``margin`` and ``gain_over_overall`` are differences of aggregates in the ranked metric's
    units, positive when the chosen model is better; ``margin_ci_low`` and ``margin_ci_high``
    bound the margin (expanded percentile interval of the paired bootstrap differences, the
    subgroup's patients resampled). ``model`` is None when no model meets the
    constraints in this subgroup (``reason`` says why). ``runner_up_standing`` is the
    runner-up's :class:`~medselect.rank.leaderboard.Standing` against the chosen model (tied,
    equivalent, unresolved, worse).
    """

    group: str
    model: str | None
    n_cases: int
    n_patients: int
    reason: str
    aggregate: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    ci_reliable: bool = False
    ci_note: str | None = None
    p_best: float | None = None
    runner_up: str | None = None
    runner_up_standing: str | None = None
    margin: float | None = None
    margin_ci_low: float | None = None
    margin_ci_high: float | None = None
    p_vs_runner_up: float | None = None
    win_significant: bool | None = None
    decided_by_tie_break: bool = False
    overall_model: str | None = None
    gain_over_overall: float | None = None
    p_vs_overall: float | None = None


@dataclass(frozen=True, eq=False)
class Selection:
    """Subgroup -> model, the overall choice beside it, and whether the choices differ.

    ``rankings`` holds the full ranking of every subgroup (and of all cases, under
    :data:`OVERALL`); :meth:`to_dict` includes their leaderboards.
    """

    attribute: str
    metric: str
    aggregate: str
    overall: Choice
    choices: tuple[Choice, ...]
    differs: bool
    largest_gain: float | None
    summary: str
    notes: tuple[str, ...] = ()
    rankings: Mapping[str, PreferenceRanking] = field(default_factory=dict, repr=False)

    def models(self) -> dict[str, str | None]:
        """The site -> model table as a dict."""
        return {c.group: c.model for c in self.choices}

    def to_frame(self) -> pd.DataFrame:
        """One row per subgroup, then the overall choice."""
        rows = [asdict(c) for c in (*self.choices, self.overall)]
        return pd.DataFrame(rows).set_index("group").rename_axis(self.attribute)

    def to_dict(self) -> dict:
        """JSON-safe form."""
        def clean(choice: Choice) -> dict:
            return {k: json_number(v) for k, v in asdict(choice).items()}
        return {"attribute": self.attribute, "metric": self.metric, "aggregate": self.aggregate,
                "differs": self.differs, "largest_gain": json_number(self.largest_gain),
                "summary": self.summary, "notes": list(self.notes),
                "overall": clean(self.overall),
                "choices": [clean(c) for c in self.choices],
                "leaderboards": {group: ranking.leaderboard.to_dict()
                                 for group, ranking in self.rankings.items()}}


def select(
    table: pd.DataFrame,
    preference: Preference,
    directions: Mapping[str, Direction | str],
    *,
    by: str = "site",
    statistics: Statistics | None = None,
    model_info: pd.DataFrame | None = None,
    worst: float | Mapping[str, float] | None = None,
    aggregates: Mapping[str, Aggregate] | None = None,
    set_metrics: SetMetrics | None = None,
    margins: Mapping[str, float] | None = None,
) -> Selection:
    """Choose the best model for every value of the case attribute ``by``.

    Args:
        by: case attribute (a column of the per-case table besides the required ones).
        Others as in :func:`medselect.rank.rank_preference`.

    Raises:
        RankingError: ``by`` is not a case attribute, or no model meets the constraints on the
            whole table. (A subgroup where none does gets a choice without a model.)
    """
    matrices = preference_matrices(table, preference, directions, worst, set_metrics)
    return select_matrices(matrices, preference, by=by, statistics=statistics,
                           model_info=model_info, aggregates=aggregates, margins=margins)


def select_matrices(
    matrices: Mapping[tuple[str, str], ScoreMatrix],
    preference: Preference,
    *,
    by: str = "site",
    statistics: Statistics | None = None,
    model_info: pd.DataFrame | None = None,
    aggregates: Mapping[str, Aggregate] | None = None,
    margins: Mapping[str, float] | None = None,
    overall: PreferenceRanking | None = None,
    groups: Mapping[str, GroupChoice] | None = None,
) -> Selection:
    """:func:`select` on the prepared matrices of every (metric, label) ``preference`` reads.

    ``overall``: the ranking of all cases with these options, when already made; ``groups``:
    each group's :class:`GroupChoice` made with them (:func:`group_choices`), when some
    were already read alone.
    """
    statistics = statistics or Statistics()
    options = dict(statistics=statistics, model_info=model_info, aggregates=aggregates,
                   margins=margins)
    overall_ranking = overall or rank_matrices(matrices, preference, **options)
    if groups is None:
        groups = group_choices(matrices, preference, by, overall_ranking, **options)
    rankings = {OVERALL: overall_ranking}
    choices = []
    for group, made in groups.items():
        if made.ranking is not None:
            rankings[group] = made.ranking
        choices.append(made.choice)
    overall = _choice(OVERALL, overall_ranking.leaderboard, statistics, None)
    board = overall_ranking.leaderboard
    chosen = {c.model for c in choices if c.model is not None}
    gains = [c.gain_over_overall for c in choices if c.gain_over_overall is not None]
    largest = max(gains) if gains else None
    return Selection(
        attribute=by, metric=board.metric, aggregate=board.aggregate, overall=overall,
        choices=tuple(choices), differs=len(chosen) > 1, largest_gain=largest,
        summary=_summary(by, board, overall, choices, largest, statistics.alpha),
        notes=_small_groups(by, choices), rankings=rankings,
    )


@dataclass(frozen=True)
class GroupChoice:
    """One group's ranking (None when no model could be ranked there) and its choice."""

    ranking: PreferenceRanking | None
    choice: Choice


def group_choices(
    matrices: Mapping[tuple[str, str], ScoreMatrix],
    preference: Preference,
    by: str,
    overall: PreferenceRanking,
    *,
    statistics: Statistics,
    **options: Any,
) -> LazyMapping[str, GroupChoice]:
    """Each value of the case attribute ``by`` -> its :class:`GroupChoice`, made when first
    read. Each group is ranked on its own cases with its own seeded statistics, so a group
    read alone has the values it has among all (a site's board reads one site)."""
    groups = _groups(matrices, by)
    overall_model = overall.leaderboard.best  # the overall choice's model

    def make(group: str) -> GroupChoice:
        cases = groups[group]
        try:
            ranking = rank_matrices(restrict(matrices, cases), preference,
                                    statistics=statistics, **options)
        except RankingError as exc:
            return GroupChoice(None, Choice(
                group=group, model=None, n_cases=len(cases),
                n_patients=_patients(matrices, cases), reason=str(exc),
                overall_model=overall_model))
        return GroupChoice(ranking, _choice(group, ranking.leaderboard, statistics,
                                            overall_model))
    return LazyMapping(groups, make)


def _patients(matrices: Mapping[object, ScoreMatrix], cases: set[str]) -> int:
    return next(iter(matrices.values())).on_cases(cases).clusters().n_patients


def _small_groups(by: str, choices: list[Choice]) -> tuple[str, ...]:
    small = [c for c in choices if c.n_patients < MIN_GROUP_PATIENTS]
    if not small:
        return ()
    named = ", ".join(f"{c.group} ({c.n_patients})" for c in small)
    return (f"{by} {named} {'has' if len(small) == 1 else 'have'} fewer than "
            f"{MIN_GROUP_PATIENTS} patients: a choice there rests on almost nothing; add "
            "patients of that site to the evaluated set before trusting it",)


def require_attributes(columns: Iterable[str], by: Iterable[str]) -> None:
    """Refuse a ``by`` that is no case attribute among ``columns`` (a per-case table's, or a
    matrix's attributes') now, although each group's ranking is made only when first read,
    so that a typo stops a report before it prints."""
    attributes = [c for c in columns if c not in KEY_COLUMNS]
    for name in by:
        if name not in attributes:
            raise RankingError(_not_an_attribute(name, attributes))


def _not_an_attribute(by: str, attributes: list[str]) -> str:
    return (f"cannot select by {by!r}: it is not a case attribute of the per-case table; "
            f"attributes: {attributes}")


def _groups(matrices: Mapping[object, ScoreMatrix], by: str) -> dict[str, set[str]]:
    attributes = pd.concat([m.attributes for m in matrices.values()])
    attributes = attributes[~attributes.index.duplicated()]
    if by not in attributes.columns:
        raise RankingError(_not_an_attribute(by, list(attributes.columns)))
    values = attributes[by].dropna()
    return {str(v): set(map(str, values.index[values == v])) for v in sorted(values.unique())}


def _choice(group: str, board: Leaderboard, statistics: Statistics,
            overall_model: str | None) -> Choice:
    chosen = board.row(board.best)
    models = board.matrix.models
    others = [r for r in board.rows if r.model != board.best]
    runner = others[0] if others else None
    sign = 1.0 if board.direction == Direction.HIGHER else -1.0
    p_runner, s_runner = (_test(board, board.best, runner.model) if runner
                          else (None, 0.0))
    margin_ci = _margin_interval(board, runner.model) if runner else (None, None)
    evidence = {}
    if overall_model is not None and overall_model in models:
        evidence = {
            # + 0.0 turns -0.0 (same model, lower-is-better metric) into 0.0
            "gain_over_overall": sign * (chosen.aggregate - board.row(overall_model).aggregate)
            + 0.0,
            "p_vs_overall": (None if overall_model == board.best
                             else _test(board, board.best, overall_model)[0]),
        }
    return Choice(
        group=group, model=board.best, n_cases=board.n_cases, n_patients=board.n_patients,
        reason=board.reason,
        aggregate=chosen.aggregate, ci_low=chosen.ci_low, ci_high=chosen.ci_high,
        ci_reliable=board.ci_reliable, ci_note=board.ci_note, p_best=chosen.p_best,
        runner_up=runner.model if runner else None,
        runner_up_standing=_runner_up_standing(chosen, runner),
        margin=sign * (chosen.aggregate - runner.aggregate) if runner else None,
        margin_ci_low=margin_ci[0], margin_ci_high=margin_ci[1],
        p_vs_runner_up=p_runner,
        win_significant=None if p_runner is None else bool(
            p_runner < statistics.alpha and s_runner > 0),
        decided_by_tie_break=board.decided_by_tie_break, overall_model=overall_model,
        **evidence,
    )


def _runner_up_standing(chosen: LeaderboardRow, runner: LeaderboardRow | None) -> str | None:
    """The runner-up's standing against the chosen model: its own against the top one, or,
    when a tie-break chose another model of the best group over the top one (the runner-up
    then), the chosen model's (tied or equivalent: the relation is symmetric)."""
    if runner is None:
        return None
    return (chosen.standing if runner.standing == Standing.BEST else runner.standing).value


def _margin_interval(board: Leaderboard, runner: str) -> tuple[float | None, float | None]:
    """The interval of the chosen model's margin over ``runner`` from the board's own paired
    resamples (positive: the chosen model is better); None where it is undefined."""
    sign = 1.0 if board.direction == Direction.HIGHER else -1.0
    models = board.matrix.models
    diff = sign * (board.samples[:, models.index(board.best)]
                   - board.samples[:, models.index(runner)])
    low, high = percentile_interval(diff[:, None], board.statistics.confidence,
                                    board.clusters)[:, 0]
    return json_number(float(low)), json_number(float(high))


def _test(board: Leaderboard, a: str, b: str) -> tuple[float, float]:
    """Raw p-value of the paired test of ``a`` against ``b`` on the board's patients, and +1
    when ``a`` is better (with the board's test: the bootstrap one for a set metric)."""
    matrix = board.matrix
    i, j = matrix.models.index(a), matrix.models.index(b)
    p, s = compare(matrix.oriented, np.array([i]), np.array([j]), board.statistics.test,
                   board.resampled, board.clusters)
    return float(p[0]), float(s[0])


def _summary(by: str, board: Leaderboard, overall: Choice, choices: list[Choice],
             largest: float | None, alpha: float) -> str:
    named = [c for c in choices if c.model is not None]
    what = board.metric if board.aggregate == board.metric else f"{board.metric} {board.aggregate}"
    if not named:
        return f"no {by} has a model that meets the constraints"
    if len({c.model for c in named}) == 1:
        return f"the same model, {named[0].model}, is best at every {by} ({what})"
    table = ", ".join(f"{c.group} -> {c.model}" for c in choices)
    top = max((c for c in named if c.gain_over_overall is not None),
              key=lambda c: c.gain_over_overall, default=None)
    if top is None or largest is None or largest <= 0:
        return f"the best model differs between {by} values ({table}; {what})"
    p = "" if top.p_vs_overall is None else f", paired p = {top.p_vs_overall:.3g}"
    shown = top.p_vs_overall is not None and top.p_vs_overall < alpha
    caveat = "" if shown else (f"; not significant: these patients do not show that any {by} "
                               "needs a model of its own")
    return (f"the best model differs between {by} values ({table}); the largest difference: "
            f"at {by} {top.group}, {top.model} beats the overall choice {overall.model} by "
            f"{largest:.4g} in {what}{p}{caveat}")
