"""Reads of the store that the views share, cached where they are costly.

A :class:`Scope` is the case set a page is about and the evaluation each model contributes to
it; its :attr:`Scope.key` (case set, the stamp of its last per-case write + the evaluations'
ids, statuses and times) keys every
cached result, so a new or recomputed evaluation is picked up on the next request. Its
per-case table and the ranking rules come from :mod:`medselect.choose`, as ``medselect rank``
reads them.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa

from medselect.choose import KEY_METRICS, RankingInputs, ranking_inputs, task_ranking
from medselect.config import RankingSpec
from medselect.dashboard.context import Dashboard
from medselect.dashboard.schemas import (
    NEW_CASES,
    Acceptance,
    CaseSetInfo,
    FailedRun,
    MetricInfo,
    ModelInfo,
    PrunedRun,
)
from medselect.data import named_case_set
from medselect.errors import ConfigError, NotFound
from medselect.metrics import CASE_LABEL, MEAN_LABEL, METRICS, SET_METRICS
from medselect.metrics.review import ACCEPTANCE, ACCEPTED
from medselect.rank import ScoreMatrix, preference_from_spec, source_metrics
from medselect.store import (
    EvaluationStatus,
    RunStatus,
    VersionStatus,
    acceptance_rates,
    case_metric_table,
    case_metric_values,
    case_metrics_stamp,
    case_set_members,
    evaluated_metrics,
    get_case_set,
    get_task,
    labelled_case_sets,
    latest_epoch_metrics,
    latest_evaluations,
    list_case_sets,
    list_evaluations,
    list_external_models,
    list_model_versions,
    list_runs,
    review_stamp,
    task_family,
)
from medselect.store.evaluations import EXTERNAL_PREFIX

SUMMARY_FIELDS = ("architecture", "loss", "augmentation", "learning_rate", "batch_size")
CATALOG_SAMPLE = 3
"""How many evaluations are read to list the metrics of a case set (they all share them)."""


@dataclass(frozen=True)
class Scope:
    """A case set and, per model, its newest finished evaluation on it; ``labelled``: some
    case has a reference, so there are metrics to rank; ``stamp``: what the last write of its
    per-case values left (:func:`medselect.store.case_metrics_stamp`), so a re-evaluation
    under the same id, status and duration still changes the key."""

    case_set: dict[str, Any]
    evaluations: dict[str, dict[str, Any]]
    labelled: bool = True
    stamp: str | None = None

    @property
    def id(self) -> str:
        return self.case_set["id"]

    @property
    def task(self) -> str:
        return self.case_set["task"]

    @property
    def key(self) -> tuple:
        return (self.id, self.stamp, tuple(sorted(
            (e["id"], e["status"], e["created_at"].isoformat(), e["duration_s"])
            for e in self.evaluations.values())))

    def info(self) -> CaseSetInfo:
        return case_set_info(self.case_set, len(self.evaluations), self.labelled)


def case_set_info(row: Mapping[str, Any], n_evaluations: int, labelled: bool) -> CaseSetInfo:
    return CaseSetInfo(id=row["id"], name=row["name"], kind=row["kind"], task=row["task"],
                       dataset_version=row["dataset_version"], n_evaluations=n_evaluations,
                       created_at=row["created_at"], labelled=labelled)


def case_set_choices(conn: sa.Connection) -> list[CaseSetInfo]:
    """Every case set with at least one finished evaluation: the task's own sets (test, val,
    reference, ...) most evaluated first, then new cases (uploads, ``evaluate --cases``) newest
    first."""
    finished = list_evaluations(conn, status=EvaluationStatus.FINISHED)
    counts = Counter(e["case_set"] for e in finished)
    rows = [r for r in list_case_sets(conn) if counts[r["id"]]]
    rows.sort(key=lambda r: (r["kind"] == NEW_CASES, -counts[r["id"]] * (r["kind"] != NEW_CASES),
                             -r["created_at"].timestamp(), r["id"]))
    labelled = labelled_case_sets(conn, [r["id"] for r in rows])
    return [case_set_info(r, counts[r["id"]], r["id"] in labelled) for r in rows]


def resolve_scope(conn: sa.Connection, case_set: str | None = None) -> Scope:
    """The scope of ``case_set`` (an id, or a name of the default task's sets: ``test``,
    ``val``, ``reference``), or by default of :func:`default_case_set`.

    Raises:
        NotFound: the case set is missing (the message names the closest one), or nothing was
            evaluated yet.
    """
    if case_set is None:
        choices = case_set_choices(conn)
        if not choices:
            raise NotFound("no model has a finished evaluation in this workspace yet; run "
                           "`medselect evaluate` (or `medselect demo`) first")
        row = get_case_set(conn, default_case_set(conn, choices))
    else:
        try:
            row = get_case_set(conn, case_set)
        except NotFound:
            choices = case_set_choices(conn)
            if not choices:
                raise
            row = named_case_set(conn, default_task(choices), case_set)
    return Scope(case_set=row, evaluations=latest_evaluations(conn, row["id"]),
                 labelled=bool(labelled_case_sets(conn, [row["id"]])),
                 stamp=case_metrics_stamp(conn, row["id"]))


def scope_of(dash: Dashboard, conn: sa.Connection, case_set: str | None = None) -> Scope:
    """:func:`resolve_scope`, looked up once per case set by a frozen dashboard (a static
    export) and every time by a live one (a new evaluation may have come)."""
    return dash.looked_up(("scope", case_set), lambda: resolve_scope(conn, case_set))


def evaluated_case_sets(dash: Dashboard, conn: sa.Connection) -> list[CaseSetInfo]:
    """:func:`case_set_choices`, looked up as :func:`scope_of` is."""
    return dash.looked_up("case sets", lambda: case_set_choices(conn))


def task_case_set(conn: sa.Connection, task: str) -> str | None:
    """The case set pages about ``task`` open on (:func:`default_case_set` among its own
    evaluated sets); None when none of them was evaluated."""
    choices = [c for c in case_set_choices(conn) if c.task == task]
    return default_case_set(conn, choices) if choices else None


def default_task(choices: list[CaseSetInfo]) -> str:
    """The task pages are about when none is asked for: that of the most evaluated case set
    that is not new cases (an upload never decides it), else of the newest upload."""
    return choices[0].task


def default_case_set(conn: sa.Connection, choices: list[CaseSetInfo]) -> str:
    """The case set pages show when none is asked for, for :func:`default_task`: its
    confirmation set (``ranking.confirmation``, the test split) when models were evaluated on
    it, since that reports the chosen model on cases that played no part in the choice; else
    its selection set (the validation split); else its most evaluated case set. New cases
    (an upload) are shown only when nothing else was evaluated.
    """
    task = default_task(choices)
    evaluated = {c.id for c in choices}
    try:
        spec = task_ranking(conn, task)
    except NotFound:  # a task family without a default ranking metric
        return choices[0].id
    for which in (spec.confirmation, spec.selection.case_set):
        try:
            row = named_case_set(conn, task, which)
        except NotFound:
            continue
        if row["id"] in evaluated:
            return row["id"]
    return choices[0].id


@dataclass(frozen=True)
class TaskRules:
    """A task's ranking rules as every leaderboard of it applies them.

    ``stored`` says whether they are the experiment's ``ranking:`` section stored with the task
    or, when none was, the task family's default.
    """

    spec: RankingSpec
    stored: bool

    @property
    def key(self) -> str:
        return self.spec.model_dump_json()


def task_rules(dash: Dashboard, conn: sa.Connection, task: str) -> TaskRules:
    """The task's ranking rules (:func:`medselect.choose.task_ranking`), with the bootstrap
    size and seed of the dashboard's settings where those fix them.

    Raises:
        NotFound: no such task, or its family has no default ranking metric.
    """
    def lookup() -> TaskRules:
        spec = task_ranking(conn, task)
        fixed = {"bootstrap_resamples": dash.settings.n_resamples, "seed": dash.settings.seed}
        spec = spec.model_copy(update={k: v for k, v in fixed.items() if v is not None})
        return TaskRules(spec=spec, stored=get_task(conn, task)["ranking"] is not None)
    return dash.looked_up(("rules", task), lookup)


def inputs_of(dash: Dashboard, conn: sa.Connection, scope: Scope,
              spec: RankingSpec) -> RankingInputs:
    """The scope's per-case table of the metrics and labels ``spec`` reads, with the metrics'
    directions and margins and the models' attributes, as ``medselect rank`` reads them
    (:func:`medselect.choose.ranking_inputs`); without the experts' verdicts, which change more
    often (a board ranked by acceptance adds them: :func:`medselect.choose.with_reviews`).

    Cached per what it reads, not per question: boards of one metric and label under any
    aggregate or site share it. Reading only that is what keeps a first board fast (the
    whole table of 200 models x 2000 cases is 2.4 million rows)."""
    needs = tuple(preference_from_spec(spec).needs())
    return dash.tables.get_or_compute(
        ("inputs", scope.key, needs),
        lambda: ranking_inputs(conn, scope.task, scope.id, spec=spec, reviews=False))


def metric_matrix(dash: Dashboard, conn: sa.Connection, scope: Scope, info: MetricInfo,
                  label: str) -> ScoreMatrix:
    """The cases x models matrix of one metric at one label on all the scope's cases (a set
    metric's, to be reduced by it), read alone from the store and cached.

    Raises:
        RankingError: the metric has no value at ``label`` (or no truth to compare with).
    """
    def compute() -> ScoreMatrix:
        values = case_metric_values(conn, case_set=scope.id, labels=[label],
                                    metrics=source_metrics([info.name], SET_METRICS))
        return RankingInputs(scope.id, None, {info.name: info.direction}, {}, None,
                             values=values).matrix(info.name, label)
    return dash.tables.get_or_compute(("matrix", scope.key, info.name, label), compute)


def case_sites(dash: Dashboard, conn: sa.Connection, scope: Scope) -> dict[str, str]:
    """Case id -> site of the scope's cases, in case id order."""
    def compute() -> dict[str, str]:
        return {c["case_id"]: c["site"] for c in case_set_members(conn, scope.id)}
    key = ("sites", scope.id, scope.case_set["content_hash"])
    return dash.cache.get_or_compute(key, compute)


def metric_catalog(dash: Dashboard, conn: sa.Connection, scope: Scope) -> list[MetricInfo]:
    """The metrics (with their labels) evaluated on the scope, in the metrics registry order,
    and the set metrics (AUC, ...) whose per-case source was evaluated, with its labels."""
    def compute() -> list[MetricInfo]:
        newest = sorted(scope.evaluations.values(), key=lambda e: e["created_at"])
        labels: dict[str, set[str]] = {}
        for evaluation in newest[-CATALOG_SAMPLE:]:
            for metric, label in evaluated_metrics(conn, evaluation["id"]):
                labels.setdefault(metric, set()).add(label)
        for name, set_metric in SET_METRICS.items():
            if set_metric.source in labels:
                labels[name] = labels[set_metric.source]
        order = {name: i for i, name in enumerate(METRICS)}
        names = sorted(labels, key=lambda m: (order.get(m, len(order)), m))
        policy = newest[-1]["metric_policy"] if newest else {}
        config = get_task(conn, scope.task)["config"]
        position = {name: i for i, name in enumerate(
            [*config.get("classes", []), *config.get("landmarks", [])])}
        return [_metric_info(name, sorted(labels[name], key=lambda x: (
            x not in (MEAN_LABEL, CASE_LABEL), position.get(x, len(position)), x)), policy)
            for name in names]
    return dash.cache.get_or_compute(("catalog", scope.key), compute)


def ranked_catalog(dash: Dashboard, conn: sa.Connection, scope: Scope) -> list[MetricInfo]:
    """The metrics a leaderboard can rank the scope by: :func:`metric_catalog` and, once a
    prediction of the case set was reviewed, the expert ``acceptance`` rate (read fresh:
    reviews change often)."""
    catalog = metric_catalog(dash, conn, scope)
    if review_stamp(conn, scope.id)[0]:
        catalog = [*catalog, _metric_info(ACCEPTANCE.name, [CASE_LABEL], {})]
    return catalog


def reads_reviews(metric: str) -> bool:
    """Whether ranking by ``metric`` reads the experts' verdicts (whose results must then be
    keyed by :func:`medselect.store.review_stamp`)."""
    set_metric = SET_METRICS.get(metric)
    return set_metric is not None and set_metric.source == ACCEPTED.name


def _metric_info(name: str, labels: list[str], policy: Mapping[str, Any]) -> MetricInfo:
    set_metric = SET_METRICS.get(name)
    one_vs_rest = set_metric is not None and set_metric.one_vs_rest
    common = {"name": name, "labels": labels,
              "default_label": labels[-1] if one_vs_rest else labels[0],
              "per_case": set_metric is None,
              "source": None if set_metric is None else set_metric.source}
    spec = METRICS.get(name)
    if spec is not None:
        return MetricInfo(**common, direction=spec.direction.value, unit=spec.unit.value,
                          definition=spec.definition)
    stored = policy.get(name) or policy.get("metrics", {}).get(name) or {}
    return MetricInfo(**common, direction=stored.get("direction", "higher"),
                      unit=stored.get("unit", "none"), definition=stored.get("definition", ""))


def labels_of(catalog: list[MetricInfo]) -> list[str]:
    """Every label of the per-case metrics: mean or case first, then classes or landmarks."""
    labels = dict.fromkeys(lb for m in catalog if m.per_case for lb in m.labels)
    return sorted(labels, key=lambda x: x not in (MEAN_LABEL, CASE_LABEL))


def find_metric(catalog: list[MetricInfo], name: str) -> MetricInfo:
    """Raises: NotFound: no such metric was evaluated (the message lists those that were)."""
    for info in catalog:
        if info.name == name:
            return info
    raise NotFound(f"metric {name!r} was not evaluated on this case set; it has: "
                   f"{', '.join(m.name for m in catalog) or 'no metrics'}")


def per_case_metric(catalog: list[MetricInfo], name: str) -> MetricInfo:
    """The metric ``name``, which must have values per case (galleries, case pages and
    comparisons show them).

    Raises:
        NotFound: no such metric was evaluated.
        ConfigError: it is a set metric (AUC, ...), which has no value per case.
    """
    info = find_metric(catalog, name)
    if not info.per_case:
        choices = ", ".join(m.name for m in catalog if m.per_case)
        raise ConfigError(f"metric {name!r} is computed over a set of cases and has no value "
                          f"per case (its per-case input is {info.source!r}); choose a "
                          f"per-case metric: {choices}")
    return info


def label_of(info: MetricInfo, label: str | None) -> str:
    """``label``, or the metric's default one.

    Raises:
        NotFound: the metric has no values for ``label`` (the message lists its labels).
    """
    if label is None:
        return info.default_label
    if label not in info.labels:
        raise NotFound(f"label {label!r} has no {info.name} values; labels: "
                       f"{', '.join(info.labels)}")
    return label


def default_metric(conn: sa.Connection, scope: Scope, catalog: list[MetricInfo], *,
                   per_case: bool = False) -> MetricInfo:
    """The scope's task family's first key metric (:data:`medselect.choose.KEY_METRICS`) that
    was evaluated, else the first metric of the catalog. Leaderboards lead with the task's
    ranking metric; pages about single cases (galleries, case pages, comparisons) ask for
    ``per_case`` (classification: the probability of the true class), and so does a
    leaderboard whose ranking metric was not evaluated.

    Raises:
        NotFound: no metric value is stored for the scope.
    """
    candidates = [m for m in catalog if m.per_case or not per_case]
    if not candidates:
        raise NotFound(f"no metric values are stored for case set {scope.id!r}")
    by_name = {m.name: m for m in candidates}
    family = task_family(get_task(conn, scope.task))
    return next((by_name[n] for n in KEY_METRICS.get(family, ()) if n in by_name), candidates[0])


def model_table(
    conn: sa.Connection, scope: Scope, model: str, labels: list[str] | None = None
) -> pd.DataFrame:
    """One model's per-case table on the scope. Raises: NotFound: it was not evaluated."""
    evaluation_of(scope, model)
    return case_metric_table(conn, case_set=scope.id, model_refs=[model], labels=labels)


def evaluation_of(scope: Scope, model: str) -> dict[str, Any]:
    """Raises: NotFound: ``model`` has no finished evaluation on the scope's case set."""
    try:
        return scope.evaluations[model]
    except KeyError:
        raise NotFound(f"model {model!r} has no finished evaluation on case set {scope.id!r}; "
                       f"evaluated models: {sorted(scope.evaluations)[:10]}") from None


def model_infos(conn: sa.Connection, task: str) -> dict[str, ModelInfo]:
    """Every run and external model of ``task`` by model ref, champions marked."""
    champions = champion_scopes(conn, task)
    infos = {}
    for run in list_runs(conn, task=task):
        infos[run["id"]] = ModelInfo(
            ref=run["id"], kind="run", status=run["status"], summary=config_summary(run["config"]),
            config=run["config"], details=run["details"] or {}, error=run["error"],
            n_parameters=run["n_parameters"],
            duration_s=run["duration_s"], champion=champions.get(run["id"], []))
    for row in list_external_models(conn, task):
        ref = EXTERNAL_PREFIX + row["name"]
        infos[ref] = ModelInfo(
            ref=ref, kind="external", status=RunStatus.FINISHED,
            summary={"source": "external", "description": row["description"] or row["name"]},
            config={"source_uri": row["source_uri"], "description": row["description"]},
            champion=champions.get(ref, []))
    return infos


def model_info(infos: Mapping[str, ModelInfo], ref: str) -> ModelInfo:
    """The info of ``ref``; a model known only from its evaluation gets a bare one."""
    if ref in infos:
        return infos[ref]
    kind = "external" if ref.startswith(EXTERNAL_PREFIX) else "run"
    return ModelInfo(ref=ref, kind=kind, status="unknown", summary={})


def config_summary(config: Mapping[str, Any]) -> dict[str, str]:
    """The fields of a run configuration a reader compares models by, as short strings."""
    return {key: _short(config[key]) for key in SUMMARY_FIELDS if key in config}


def summary_columns(summaries: Iterable[Mapping[str, str]]) -> list[str]:
    """The fields of ``summaries`` as table columns: :data:`SUMMARY_FIELDS` first, then others
    (an external model's) in the order first seen."""
    seen = dict.fromkeys(key for summary in summaries for key in summary)
    return [k for k in SUMMARY_FIELDS if k in seen] + [k for k in seen if k not in SUMMARY_FIELDS]


def _short(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, Mapping):
        return str(value.get("name", value))
    return str(value)


def champion_scopes(conn: sa.Connection, task: str) -> dict[str, list[str]]:
    """Model ref -> registry scopes (``global``, ``site:<name>``) where it is the champion."""
    scopes: dict[str, list[str]] = {}
    for version in sorted(list_model_versions(conn, task, status=VersionStatus.CHAMPION),
                          key=lambda v: v["scope"]):
        scopes.setdefault(version["model_ref"], []).append(version["scope"])
    return scopes


def pruned_runs(conn: sa.Connection, task: str | None = None) -> list[PrunedRun]:
    """The runs a search stopped early, with how far they got."""
    runs = list_runs(conn, task=task, status=RunStatus.PRUNED)
    last = latest_epoch_metrics(conn, [r["id"] for r in runs])
    return [PrunedRun(id=r["id"], epochs=last.get(r["id"], (None,))[0],
                      best_metric=number(r["best_metric"]), summary=config_summary(r["config"]))
            for r in runs]


def failed_runs(conn: sa.Connection, task: str | None = None) -> list[FailedRun]:
    return [FailedRun(id=r["id"], error=r["error"], summary=config_summary(r["config"]))
            for r in list_runs(conn, task=task, status=RunStatus.FAILED)]


def run_counts(conn: sa.Connection) -> dict[str, int]:
    """Runs of the workspace per status (for the page shown before anything is evaluated)."""
    return dict(Counter(r["status"] for r in list_runs(conn)))


def acceptance(conn: sa.Connection, case_set: str) -> dict[str, Acceptance]:
    """Model ref -> accepted and reviewed counts on ``case_set`` (reviews change often: never
    cached)."""
    return {ref: Acceptance(accepted=a, reviewed=n)
            for ref, (a, n) in acceptance_rates(conn, case_set).items()}


def number(value: object) -> float | None:
    """A JSON-safe metric value: NaN and infinities become None."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None
