"""Everything the experiment file's ``ranking:`` section asks for, from one call.

:func:`rank_table` turns a :class:`~medselect.config.ranking.RankingSpec` into the ranking
calls: the overall ranking under the preference, the significance matrix of its models and one
selection per ``by`` attribute. The command line only builds the spec (YAML section plus
flags), loads the per-case table and the metric directions, and prints the report::

    spec = spec.model_copy(update={"metric": "dice", "aggregate": "p10", "by": ["site"]})
    report = rank_table(table, spec, directions={"dice": "higher", "hd95": "lower"})
    print(json.dumps(report.to_dict()))       # --json
    report.to_frame().to_csv(sys.stdout)      # --csv
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import pandas as pd

from medselect.config.ranking import RankingSpec
from medselect.errors import RankingError
from medselect.rank.aggregate import Aggregate
from medselect.rank.lazy import LazyMapping
from medselect.rank.leaderboard import Leaderboard, Statistics
from medselect.rank.paired import SignificanceMatrix
from medselect.rank.preference import (
    Preference,
    PreferenceRanking,
    preference_matrices,
    rank_matrices,
)
from medselect.rank.selection import (
    Choice,
    GroupChoice,
    Selection,
    group_choices,
    require_attributes,
    select_matrices,
)
from medselect.rank.setmetric import SetMetrics
from medselect.rank.table import Direction, ScoreMatrix

__all__ = ["RankReport", "preference_from_spec", "rank_table", "statistics_from_spec"]


@dataclass(frozen=True, eq=False)
class RankReport:
    """The overall ranking, its significance matrix and the per-attribute selections.

    The selections of :func:`rank_table` are a :class:`~medselect.rank.lazy.LazyMapping`: each
    attribute's is computed when first read (every site ranked on its own, at 200 models x
    2000 cases a second that a board of all cases need not wait for).
    """

    ranking: PreferenceRanking
    selections: Mapping[str, Selection] = field(default_factory=dict)
    groups: Mapping[str, Mapping[str, GroupChoice]] = field(default_factory=dict, repr=False)
    """Per attribute, each group's ranking and choice, each made when first read: what a
    selection is made of, for a reader that needs one group (a site's board)."""

    def choice_in(self, by: str, group: str) -> Choice:
        """The choice in ``group`` of the selection by ``by``, ranking only that group when the
        whole selection was not made yet (the same values either way).

        Raises:
            KeyError: no selection by ``by``, or no such group.
        """
        return self.groups[by][group].choice

    @cached_property
    def significance(self) -> SignificanceMatrix:
        """Every pair of models compared (:meth:`Leaderboard.significance`), computed when
        first asked: at 200 models that is 19,900 paired tests, which a leaderboard shown
        without them need not wait for."""
        return self.ranking.leaderboard.significance()

    @property
    def leaderboard(self) -> Leaderboard:
        return self.ranking.leaderboard

    def to_frame(self) -> pd.DataFrame:
        """The overall leaderboard (selections have their own ``to_frame``)."""
        return self.ranking.to_frame()

    def to_dict(self) -> dict:
        """JSON-safe form of everything."""
        return {"ranking": self.ranking.to_dict(), "significance": self.significance.to_dict(),
                "selections": {k: s.to_dict() for k, s in self.selections.items()}}


def preference_from_spec(spec: RankingSpec) -> Preference:
    """The :class:`Preference` a ranking section describes.

    Raises:
        RankingError: the section names no metric (neither ``metric`` nor ``weights``).
    """
    weights = spec.metrics()
    if not weights:
        raise RankingError("ranking.metric is not set: name the metric to rank by (e.g. "
                           "'metric: dice' in the experiment file or --metric dice), or give "
                           "ranking.weights for several metrics")
    return Preference(weights=weights, label=spec.label, aggregate=spec.aggregate,
                      constraints=tuple(spec.constraints), pareto=tuple(spec.pareto),
                      tie_break=tuple(spec.tie_break))


def statistics_from_spec(spec: RankingSpec) -> Statistics:
    """The bootstrap and test settings of a ranking section."""
    return Statistics(n_resamples=spec.bootstrap_resamples, confidence=spec.confidence,
                      alpha=spec.alpha, seed=spec.seed, stratify=spec.stratify, test=spec.test,
                      unit=spec.unit)


def rank_table(
    table: pd.DataFrame,
    spec: RankingSpec,
    directions: Mapping[str, Direction | str],
    *,
    model_info: pd.DataFrame | None = None,
    worst: float | Mapping[str, float] | None = None,
    aggregates: Mapping[str, Aggregate] | None = None,
    set_metrics: SetMetrics | None = None,
    margins: Mapping[str, float] | None = None,
) -> RankReport:
    """Rank and select as ``spec`` says.

    Args:
        table: the per-case table.
        spec: the ``ranking:`` section, with command-line overrides applied.
        directions: metric -> ``higher``/``lower`` for every metric the spec reads.
        model_info: per-model attributes indexed by model, for tie-breaks.
        worst: value imputed for missing values, per metric; default the worst observed.
        aggregates: custom named aggregates the spec may name.
        set_metrics: metrics defined over sets of cases (AUC, ...) the spec may name.
        margins: default equivalence margins per metric; the spec's ``equivalence`` wins.

    Raises:
        RankingError: the request cannot be answered; the message says what to change.
    """
    preference = preference_from_spec(spec)
    matrices = preference_matrices(table, preference, directions, worst, set_metrics)
    return rank_report(matrices, spec, model_info=model_info, aggregates=aggregates,
                       margins=margins, columns=table.columns)


def rank_report(
    matrices: Mapping[tuple[str, str], ScoreMatrix],
    spec: RankingSpec,
    *,
    model_info: pd.DataFrame | None = None,
    aggregates: Mapping[str, Aggregate] | None = None,
    margins: Mapping[str, float] | None = None,
    columns: Iterable[str] | None = None,
) -> RankReport:
    """:func:`rank_table` on the prepared matrices of every (metric, label) the spec reads
    (e.g. read straight from stored arrays); ``columns``: the per-case table's, whose case
    attributes ``spec.by`` may name (default the matrices' attributes)."""
    preference = preference_from_spec(spec)
    options = dict(statistics=statistics_from_spec(spec), model_info=model_info,
                   aggregates=aggregates, margins={**(margins or {}), **spec.equivalence})
    ranking = rank_matrices(matrices, preference, **options)
    if columns is None:
        columns = next(iter(matrices.values())).attributes.columns
    require_attributes(columns, spec.by)
    groups = LazyMapping(spec.by, lambda by: group_choices(matrices, preference, by, ranking,
                                                           **options))
    selections = LazyMapping(spec.by, lambda by: select_matrices(
        matrices, preference, by=by, overall=ranking, groups=groups[by], **options))
    return RankReport(ranking=ranking, selections=selections, groups=groups)


def rank_cases(table: pd.DataFrame, metric: str | None = None, *,
               ranking: RankingSpec | Mapping[str, Any] | None = None,
               **options: Any) -> RankReport:
    """Rank the models of any per-case table as ``medselect rank`` does, each metric's
    direction, equivalence margin and set metrics taken from medselect's metric catalogue.

    Args:
        table: columns ``model, case_id, metric, label, value``, optionally ``patient_id``,
            ``site`` and other case attributes (:mod:`medselect.casetable`).
        metric: the metric to rank by (else ``ranking``'s).
        ranking: a ``ranking:`` section (a dict or :class:`~medselect.config.RankingSpec`).
        options: its fields by name, e.g. ``aggregate="p10"``, ``by=["site"]``.

    Raises:
        RankingError: the table breaks the contract, or the request cannot be answered.

    Example::

        >>> import pandas as pd
        >>> table = pd.DataFrame({"model": ["a", "a", "b", "b"], "case_id": ["c1", "c2"] * 2,
        ...                       "metric": "hd95", "label": "mean", "value": [3, 4, 5, 6.0]})
        >>> rank_cases(table, "hd95", bootstrap_resamples=200).leaderboard.best
        'a'
    """
    from medselect.casetable import validate_case_table
    from medselect.metrics import SET_METRICS, directions, margins

    given = ranking.model_dump() if isinstance(ranking, RankingSpec) else dict(ranking or {})
    spec = RankingSpec.model_validate({**given, **options,
                                       **({"metric": metric} if metric else {})})
    metrics = validate_case_table(table)["metric"].unique()
    return rank_table(table, spec, directions(metrics), margins=margins(metrics),
                      set_metrics=SET_METRICS)
