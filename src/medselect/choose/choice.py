"""Choose on one set of cases, report on another.

A model chosen on the cases that report it looks better than it is: among models of about
equal quality the luckiest wins (the winner's curse), and the same luck shows in its figure.
So :func:`choose_model` ranks on the *selection* set (by default the validation split) and
reports the chosen model's figure and interval on the *confirmation* set (by default the test
split), which played no part in the choice. When both are the same set — asked for, or because
the selection set was never evaluated — the figure is also given bias-corrected
(:func:`medselect.rank.bbc`) and labelled as such; the raw figure stays available.

With ``selection.folds`` the selection set is the out-of-fold table of the cross-validation
(:mod:`medselect.choose.crossval`): configurations are chosen, and what is confirmed is the
chosen configuration's final model (its fold ensemble or refit, built by
``medselect sweep finalize``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import sqlalchemy as sa

from medselect.casetable import SITE
from medselect.choose.crossval import (
    cv_configurations,
    cv_model_info,
    final_model_ref,
    latest_version,
    out_of_fold_table,
)
from medselect.choose.inputs import RankingInputs, ranking_inputs, task_ranking
from medselect.config import RankingSpec
from medselect.data import latest_training_version, named_case_set
from medselect.errors import MedselectError, NotFound, RankingError
from medselect.jsonsafe import json_number
from medselect.metrics import SET_METRICS
from medselect.rank import (
    RankReport,
    SelectionCorrected,
    bbc,
    parse_aggregate,
    rank_matrix,
    statistics_from_spec,
)
from medselect.rank.lazy import LazyMapping
from medselect.rank.selection import OVERALL
from medselect.rank.table import for_metric
from medselect.store import get_cases

__all__ = ["Confirmation", "ModelChoice", "choose_model", "confirm_figure"]


@dataclass(frozen=True)
class Confirmation:
    """A chosen model's figure on the confirmation set, for one metric (and one subgroup).

    Attributes:
        group: the subgroup (e.g. a site) or ``(all)``.
        same_set: the choice was made on these very cases, so ``value`` is biased upwards;
            ``corrected`` holds the bias-corrected figure then.
        note: why the figure is missing or should not be trusted, or None.
    """

    case_set: str
    group: str
    model: str
    metric: str
    label: str
    aggregate: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    n_cases: int
    n_patients: int
    same_set: bool
    corrected: SelectionCorrected | None = None
    note: str | None = None

    def to_dict(self) -> dict:
        return {"case_set": self.case_set, "group": self.group, "model": self.model,
                "metric": self.metric, "label": self.label, "aggregate": self.aggregate,
                "value": json_number(self.value), "ci_low": json_number(self.ci_low),
                "ci_high": json_number(self.ci_high), "n_cases": self.n_cases,
                "n_patients": self.n_patients, "same_set": self.same_set,
                "corrected": None if self.corrected is None else self.corrected.to_dict(),
                "note": self.note}


@dataclass(frozen=True, eq=False)
class ModelChoice:
    """The choice on the selection set and the chosen models' figures on the confirmation set.

    Attributes:
        report: the full ranking on the selection set (leaderboard, significance, per-site
            selections), as :func:`medselect.rank.rank_table` gives it.
        models: for a cross-validation, each ranked configuration's final model run id
            (what is confirmed and deployed); empty otherwise.
        confirmations: the overall choice's figure per ranked metric.
        groups: per ``by`` attribute, each subgroup's choice's figure on that subgroup's
            confirmation cases (primary metric); computed when first read, with the
            report's selection by that attribute (a board of all cases shows neither).
        notes: what the reader must know (a fallback to the same set, a missing set).
    """

    task: str
    spec: RankingSpec
    selection_set: str
    confirmation_set: str
    report: RankReport
    confirmations: tuple[Confirmation, ...]
    groups: Mapping[str, tuple[Confirmation, ...]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    models: Mapping[str, str] = field(default_factory=dict)
    group_figures: Mapping[str, Mapping[str, Confirmation | None]] = field(
        default_factory=dict, repr=False)
    """Per ``by`` attribute, each subgroup's figure (None where no model was chosen), each
    confirmed when first read: what ``groups`` is made of, for a reader of one subgroup."""

    def confirmation_in(self, by: str, group: str) -> Confirmation | None:
        """The figure of the choice in ``group`` (of the selection by ``by``) on that group's
        confirmation cases, ranking and confirming only that group when ``groups[by]`` was
        not read yet (the same values either way); None when no model was chosen there, the
        choice was not made by ``by``, or there is no such group."""
        figures = self.group_figures.get(by, {})
        return figures.get(group)

    @property
    def chosen(self) -> str:
        """The model to promote: the top of the selection ranking (a cross-validated
        configuration's final model)."""
        best = self.report.leaderboard.best
        return self.models.get(best, best)

    @property
    def same_set(self) -> bool:
        return self.selection_set == self.confirmation_set

    def to_dict(self) -> dict:
        return {"task": self.task, "selection_set": self.selection_set,
                "confirmation_set": self.confirmation_set, "same_set": self.same_set,
                "chosen": self.chosen, "notes": list(self.notes),
                "final_models": dict(self.models),
                "confirmation": [c.to_dict() for c in self.confirmations],
                "groups": {by: [c.to_dict() for c in cs] for by, cs in self.groups.items()},
                **self.report.to_dict()}


def choose_model(
    conn: sa.Connection,
    task: str,
    spec: RankingSpec | None = None,
    *,
    selection: str | None = None,
    confirmation: str | None = None,
) -> ModelChoice:
    """Rank ``task``'s models on the selection set and confirm the choice on the other.

    Args:
        spec: the ranking section (default: the one stored with the task).
        selection: the case set that chooses, a name or id (``val``, ``test``, ``reference``);
            default the spec's ``selection.case_set``.
        confirmation: the case set that reports the choice; default the spec's
            ``confirmation``.

    A selection set without evaluations (e.g. a workspace evaluated on the test split only)
    falls back to the confirmation set, with a note and the bias-corrected figure.

    Raises:
        NotFound: a case set or the task is missing, or nothing was evaluated on them.
        RankingError: the ranking cannot be made (the message says what to change).
    """
    spec = spec or task_ranking(conn, task)
    confirm_row = named_case_set(conn, task, confirmation or spec.confirmation)
    confirm = ranking_inputs(conn, task, confirm_row["id"], spec=spec)
    notes: list[str] = []
    models: dict[str, str] = {}
    if spec.selection.folds and selection is None:
        select = _cross_validation_inputs(conn, task, spec, models)
    else:
        select = _selection_inputs(conn, task, selection or spec.selection.case_set, confirm,
                                   spec, notes)
    if select.empty:
        raise _nothing_to_rank(select.case_set, task, spec)
    report = select.rank(spec)
    same = select.case_set == confirm.case_set
    if SITE in spec.by:
        notes.extend(_untrained_sites(conn, task, select, confirm))

    def confirmed(model: str, metric: str, group: tuple[str, str] | None) -> Confirmation:
        return confirm_figure(confirm, spec, models.get(model, model), metric, group, same)

    confirmations = tuple(confirmed(report.leaderboard.best, metric, None)
                          for metric in spec.metrics())
    primary = next(iter(spec.metrics()))

    def figures(by: str) -> LazyMapping[str, Confirmation | None]:
        def figure(group: str) -> Confirmation | None:
            model = report.choice_in(by, group).model
            return None if model is None else confirmed(model, primary, (by, group))
        return LazyMapping(report.groups[by], figure)

    group_figures = LazyMapping(report.groups, figures)
    groups = LazyMapping(report.selections, lambda by: tuple(
        group_figures[by][c.group] for c in report.selections[by].choices
        if c.model is not None))
    return ModelChoice(task=task, spec=spec, selection_set=select.case_set,
                       confirmation_set=confirm.case_set, report=report,
                       confirmations=confirmations, groups=groups, notes=tuple(notes),
                       models=models, group_figures=group_figures)


def _nothing_to_rank(case_set: str, task: str, spec: RankingSpec) -> MedselectError:
    """Why the selection set has nothing to rank: a ranked set metric's own reason (the
    acceptance rate before any review), else no evaluation."""
    for metric in spec.metrics():
        absent = getattr(SET_METRICS.get(metric), "absent", None)
        if absent:
            return RankingError(f"{metric} cannot be ranked on {case_set!r}: {absent}")
    return NotFound(f"no evaluations on {case_set!r} of task {task!r}: run `medselect "
                    "evaluate` first")


def _untrained_sites(conn: sa.Connection, task: str,
                     *inputs: RankingInputs) -> list[str]:
    """Notes for sites ranked here without a training patient in the task's training data."""
    version = latest_training_version(conn, task)
    if version is None:
        return []
    trained = {c["site"] for c in get_cases(conn, version["id"]) if c["split"] == "train"}
    ranked = {site for i in inputs for site in i.sites()}
    return [f"site {site!r} has no training patient in {version['id']}: the models never "
            "learnt from it, so its figures measure transfer to an unseen site"
            for site in sorted(ranked - trained)]


def _cross_validation_inputs(conn: sa.Connection, task: str, spec: RankingSpec,
                             models: dict[str, str]) -> RankingInputs:
    """The out-of-fold table of the latest training version as the selection set; fills
    ``models`` with each configuration's final model run id."""
    version = latest_version(conn, task)
    configurations = cv_configurations(conn, task, version, spec.selection)
    models.update({c.model: final_model_ref(c, spec.selection, version)
                   for c in configurations})
    table = out_of_fold_table(conn, task, spec, dataset_version=version)
    return RankingInputs.of(table, f"out-of-fold ({spec.selection.folds} folds of {version})",
                            cv_model_info(configurations))


def _selection_inputs(conn: sa.Connection, task: str, which: str, confirm: RankingInputs,
                      spec: RankingSpec, notes: list[str]) -> RankingInputs:
    """The selection set's inputs, or the confirmation set's when it cannot select."""
    try:
        row = named_case_set(conn, task, which)
    except NotFound as exc:
        notes.append(f"no selection set {which!r} ({exc}); the choice was made on the "
                     f"confirmation set {confirm.case_set!r} itself, so its figure is "
                     "bias-corrected")
        return confirm
    if row["id"] == confirm.case_set:
        return confirm
    inputs = ranking_inputs(conn, task, row["id"], spec=spec)
    if inputs.empty:
        notes.append(f"nothing to rank on the selection set {row['id']!r} (no evaluation, or "
                     "for acceptance no expert review); the choice was made on the "
                     f"confirmation set {confirm.case_set!r} itself, so its figure is "
                     "bias-corrected (evaluate, or review, the selection set to choose apart)")
        return confirm
    return inputs


def confirm_figure(inputs: RankingInputs, spec: RankingSpec, model: str, metric: str,
                   group: tuple[str, str] | None, same_set: bool) -> Confirmation:
    """``model``'s figure for ``metric`` on the confirmation cases (of one subgroup)."""
    name = OVERALL if group is None else group[1]
    base = dict(case_set=inputs.case_set, group=name, model=model, metric=metric,
                label=spec.label, same_set=same_set)
    statistics = statistics_from_spec(spec)
    try:
        matrix = inputs.matrix(metric, spec.label)
        if group is not None:
            matrix = matrix.subset((matrix.attributes[group[0]].astype(str) == name).to_numpy())
        if not matrix.cases:
            raise RankingError(f"no confirmation case at {group[0]} {name}")
        corrected = (bbc(matrix, spec.aggregate, statistics=statistics)
                     if same_set and group is None and matrix.clusters().n_patients > 1 else None)
        board = rank_matrix(matrix.only([model]), spec.aggregate, statistics=statistics,
                            margin=for_metric(metric, inputs.margins))
    except RankingError as exc:
        note = str(exc)
        if model not in inputs.models():
            note = (f"{model} has no evaluation on {inputs.case_set}: evaluate it there (a "
                    "cross-validated configuration needs its final model first: `medselect "
                    "sweep finalize`)")
        return Confirmation(**base, aggregate=parse_aggregate(spec.aggregate).name, value=None,
                            ci_low=None, ci_high=None, n_cases=0, n_patients=0, note=note)
    row = board.rows[0]
    note = board.ci_note
    if corrected is not None and corrected.model != model:
        note = "; ".join(filter(None, [note, (
            f"the bias correction is for the top point estimate, {corrected.model}; a "
            f"tie-break chose {model}")]))
    return Confirmation(**base, aggregate=board.aggregate, value=row.aggregate,
                        ci_low=row.ci_low, ci_high=row.ci_high, n_cases=row.n_cases,
                        n_patients=row.n_patients, corrected=corrected, note=note)
