"""What ranking reads from a workspace: a case set's per-case table and its companions.

Every ranking in medselect (``medselect rank``, the dashboard, the registry's ordering of
candidates) builds its inputs here, so a metric's direction, its equivalence margin, the set
metrics and the per-model attributes that tie-breaks read are the same everywhere. The experts'
verdicts join the per-case table here too (``accepted`` rows, :mod:`medselect.metrics.review`),
so ``acceptance`` ranks like any set metric, in the CLI and on the dashboard alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import sqlalchemy as sa

from medselect.casetable import CASE_LABEL, MEAN_LABEL, SITE
from medselect.config import RankingSpec
from medselect.config.choices import TaskKind
from medselect.data import stored_ranking
from medselect.errors import NotFound
from medselect.metrics import SET_METRICS, directions, margins
from medselect.metrics.review import ACCEPTED
from medselect.rank import (
    PreferenceRanking,
    RankReport,
    ScoreMatrix,
    SetMetrics,
    metric_matrix,
    preference_from_spec,
    rank_table,
    source_metrics,
    statistics_from_spec,
)
from medselect.rank.preference import rank_matrices
from medselect.rank.report import rank_report
from medselect.rank.table import dense_score_matrix, direction_of
from medselect.store import (
    CaseValues,
    case_metric_values,
    get_task,
    list_runs,
    review_table,
    task_family,
)

__all__ = ["KEY_METRICS", "RankingInputs", "default_ranking", "ranking_inputs", "task_ranking",
           "with_reviews"]

KEY_METRICS: Mapping[str, tuple[str, ...]] = {
    TaskKind.SEGMENTATION: ("dice", "hd95"),
    TaskKind.LANDMARKS: ("mre", "radial_error"),
    TaskKind.CLASSIFICATION: ("auc", "balanced_accuracy", "probability"),
}
"""Per task family, the metrics a task is judged by, best first: a ranking uses the first when
the experiment names none, and the dashboard's pages lead with them."""


class RankingInputs:
    """A case set's per-case table and what ranking needs beside it.

    Attributes:
        directions: metric -> ``higher``/``lower`` for every metric in the table.
        margins: metric -> default equivalence margin (the spec's ``equivalence`` wins).
        model_info: per-model attributes for tie-breaks (``parameters``, ``architecture``),
            indexed by model ref; None when the task has no runs.

    Inputs read from a workspace hold its values as read (:class:`~medselect.store.CaseValues`):
    a per-case metric's matrix is placed straight from them, and the long table is built
    only when something reads :attr:`table`.
    """

    def __init__(self, case_set: str, table: pd.DataFrame | None, directions: dict[str, str],
                 margins: dict[str, float], model_info: pd.DataFrame | None,
                 set_metrics: SetMetrics = SET_METRICS, values: CaseValues | None = None
                 ) -> None:
        if table is None and values is None:
            raise ValueError("ranking inputs need a per-case table or the values read")
        self.case_set = case_set
        self.directions = directions
        self.margins = margins
        self.model_info = model_info
        self.set_metrics = set_metrics
        self._table = table
        self._values = values
        self._matrices: dict[tuple[str, str], ScoreMatrix] = {}

    @classmethod
    def of(cls, table: pd.DataFrame, case_set: str,
           model_info: pd.DataFrame | None = None) -> RankingInputs:
        """Inputs of any per-case table (an out-of-fold table, a simulated one): every
        metric's direction and default margin from :mod:`medselect.metrics`."""
        metrics = table["metric"].unique()
        return cls(case_set=case_set, table=table, directions=directions(metrics),
                   margins=margins(metrics), model_info=model_info)

    @classmethod
    def read(cls, values: CaseValues, case_set: str,
             model_info: pd.DataFrame | None = None) -> RankingInputs:
        """Inputs of the values read from a workspace (as :meth:`of` their table)."""
        metrics = values.metrics()
        return cls(case_set=case_set, table=None, directions=directions(metrics),
                   margins=margins(metrics), model_info=model_info, values=values)

    @property
    def table(self) -> pd.DataFrame:
        """The long per-case table (built from the values read on first use)."""
        if self._table is None:
            self._table = self._values.table()
        return self._table

    def matrix(self, metric: str, label: str) -> ScoreMatrix:
        """The cases x models matrix of one metric and label (a set metric's to be reduced
        by it), made once per inputs.

        Raises:
            RankingError: the metric or label is not in the table, or has no direction.
        """
        key = (metric, label)
        if key not in self._matrices:
            direction = direction_of(metric, None, self.directions)
            grid = None
            if self._values is not None and metric not in self.set_metrics:
                if label == MEAN_LABEL and self._values.labels(metric) == [CASE_LABEL]:
                    label = CASE_LABEL  # as resolve_label reads it from the table
                grid = self._values.grid(metric, label)
            if grid is None:  # a set metric, or no value: the table's path says what there is
                self._matrices[key] = metric_matrix(self.table, metric, direction,
                                                    label=key[1], set_metrics=self.set_metrics)
            else:
                self._matrices[key] = dense_score_matrix(
                    grid.values, metric, direction, label=label, models=grid.models,
                    cases=grid.cases, attributes=grid.attributes)
        return self._matrices[key]

    @property
    def empty(self) -> bool:
        return self.table.empty if self._values is None else self._values.empty

    def models(self) -> set[str]:
        """The models with a row in the table."""
        return set(self._values.models) if self._table is None else set(self.table["model"])

    def nbytes(self) -> int:
        """Memory held: the long table's once built, else the values read (weighing must
        not build the table)."""
        if self._table is None:
            return self._values.nbytes
        return int(self._table.memory_usage(index=False).sum())

    def sites(self) -> set[str]:
        """The sites of the cases with a row in the table."""
        if self._table is None:
            return self._values.sites()
        table = self.table
        return {str(s) for s in table[SITE].dropna().unique()} if SITE in table.columns else set()

    def rank(self, spec: RankingSpec) -> RankReport:
        """Everything ``spec`` asks for (:func:`medselect.rank.rank_table`)."""
        if self._values is None:
            return rank_table(self.table, spec, self.directions, model_info=self.model_info,
                              set_metrics=self.set_metrics, margins=self.margins)
        return rank_report(self._needed(spec), spec, model_info=self.model_info,
                           margins=self.margins)

    def ranking(self, spec: RankingSpec) -> PreferenceRanking:
        """The overall ranking only (no significance matrix, no per-site selections)."""
        return rank_matrices(self._needed(spec), preference_from_spec(spec),
                             statistics=statistics_from_spec(spec), model_info=self.model_info,
                             margins={**self.margins, **spec.equivalence})

    def _needed(self, spec: RankingSpec) -> dict[tuple[str, str], ScoreMatrix]:
        return {key: self.matrix(*key) for key in preference_from_spec(spec).needs()}


def ranking_inputs(conn: sa.Connection, task: str, case_set: str, *,
                   models: Sequence[str] | None = None,
                   site: str | None = None,
                   spec: RankingSpec | None = None,
                   reviews: bool | None = None) -> RankingInputs:
    """The per-case table of ``case_set`` (every model's newest finished evaluation; only
    ``models``, one ``site``'s cases, and the metrics and labels ``spec`` reads when given)
    with directions, margins and the task's per-model attributes.

    ``reviews``: add the experts' current verdicts (:func:`with_reviews`); default when
    ``spec`` ranks by acceptance or no ``spec`` is given.

    Raises:
        NotFound: the case set is missing.
    """
    metrics = labels = None
    if spec is not None:  # reading only what the ranking reads: 10x less at scale
        needs = preference_from_spec(spec).needs()
        metrics = source_metrics([m for m, _ in needs], SET_METRICS)
        labels = sorted({label for _, label in needs} | {MEAN_LABEL, CASE_LABEL})
    if reviews is None:
        reviews = metrics is None or ACCEPTED.name in metrics
    values = case_metric_values(conn, case_set=case_set,
                                model_refs=None if models is None else list(models),
                                metrics=metrics, labels=labels)
    runs = list_runs(conn, task=task)
    info = pd.DataFrame(
        [{"model": r["id"], "parameters": r["n_parameters"],
          "architecture": (r["config"] or {}).get("architecture")} for r in runs]
    ).set_index("model") if runs else None
    if not reviews and site is None:
        return RankingInputs.read(values, case_set, info)
    table = values.table()
    if reviews:
        table = _joined(table, _review_rows(conn, case_set, models))
    if site is not None:
        table = table[table[SITE] == site].reset_index(drop=True)
    return RankingInputs.of(table, case_set, info)


def with_reviews(conn: sa.Connection, inputs: RankingInputs,
                 models: Sequence[str] | None = None) -> RankingInputs:
    """``inputs`` read without reviews, with the experts' current verdicts added: for a
    caller that keeps the metric rows (which change with evaluations) and reads the verdicts
    (which change with every review) fresh."""
    reviews = _review_rows(conn, inputs.case_set, models)
    if reviews.empty:
        return inputs
    return RankingInputs.of(_joined(inputs.table, reviews), inputs.case_set, inputs.model_info)


def _review_rows(conn: sa.Connection, case_set: str,
                 models: Sequence[str] | None) -> pd.DataFrame:
    return review_table(conn, case_set=case_set, metric=ACCEPTED.name,
                        model_refs=None if models is None else list(models))


def _joined(table: pd.DataFrame, reviews: pd.DataFrame) -> pd.DataFrame:
    if reviews.empty:
        return table
    if table.empty:
        return reviews
    return pd.concat([table, reviews], ignore_index=True)


def task_ranking(conn: sa.Connection, task: str) -> RankingSpec:
    """The ``ranking:`` section stored with ``task`` at import, else :func:`default_ranking`.

    Raises:
        NotFound: no such task.
        ConfigError: the stored section is no longer valid.
    """
    return stored_ranking(conn, task) or default_ranking(get_task(conn, task))


def default_ranking(task_row: dict) -> RankingSpec:
    """The ranking of a task whose experiment named none: its family's key metric, per site;
    for classification the AUC of the last class (the positive one of a binary task)."""
    family = task_family(task_row)
    metric = next(iter(KEY_METRICS.get(family, ())), None)
    if metric is None:
        raise NotFound(f"task {task_row['name']!r} ({family}) has no default ranking metric; "
                       "name one with --metric or in the experiment's ranking: section")
    classes = (task_row.get("config") or {}).get("classes") or []
    label = classes[-1] if family == TaskKind.CLASSIFICATION and classes else "mean"
    return RankingSpec(metric=metric, label=label, by=["site"])
