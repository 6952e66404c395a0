"""The promotion gate: is a candidate demonstrably better than every version it must beat?

The gate reads the per-case table (:mod:`medselect.casetable`: ``model``, ``case_id``,
``metric``, ``label``, ``value``, ``patient_id``, ``site``) and compares the candidate with each
incumbent on paired *improvements* (candidate minus incumbent, sign flipped for lower-is-better
metrics: positive is better), with the **patient** as the unit: the bootstrap resamples
patients with all their cases, the Wilcoxon test ranks each patient's mean improvement, and
the gate needs enough patients, not cases:

- ``primary``: the improvement exceeds the margin (one-sided test below this look's level),
  see :mod:`medselect.registry.improvement`;
- ``guard``: the same test against minus the guard's margin (non-inferiority);
- ``site``: at every site, the mean improvement on the primary metric is at least
  ``-site_margin`` (a point estimate, so a small site can block but never sneak through;
  the exception is a set metric undefined at a site, e.g. an AUC on one class only, which
  cannot be checked there and is reported so);
- ``min_patients``: enough patients back the comparison.

Every test runs at one level, :class:`Look`: this look's share of the scope's alpha
(:mod:`medselect.registry.budget`), divided by the number of candidates when the candidate was
picked as the best of several on the reference set itself. The candidate must pass against
every incumbent (an intersection of tests, so no further correction).

A set metric (AUC, calibration error: no per-case value) is judged on the difference of the
two models' values, both computed on the same bootstrap resamples of patients, by the bootstrap
test whatever ``test`` says.

Every model must have been evaluated on exactly the same cases (a row per case, metric and
label; a NaN value is a missing prediction and counts as the worst value observed). If the
cases differ the gate refuses rather than compare unlike things: evaluate what is missing first.

Example::

    decision = evaluate_gate("run-b", ["run-a"], table, GateCriteria(MetricMargin("dice")),
                             directions={"dice": "higher"})
    decision.accepted, [r.explanation for r in decision.failed]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from medselect.casetable import KEY_COLUMNS, SITE
from medselect.errors import RankingError, RegistryError
from medselect.metrics.display import interval_text, number_text, p_value_text, value_text
from medselect.rank import (
    Clusters,
    Direction,
    Mean,
    PairedTest,
    ScoreMatrix,
    SetMetrics,
    metric_matrix,
    resample_weights,
    resampled_aggregates,
    source_metrics,
)
from medselect.rank.aggregate import truth_values
from medselect.rank.table import direction_of, resolve_label
from medselect.registry.budget import Look
from medselect.registry.criteria import GateCriteria, MetricMargin
from medselect.registry.decision import CriterionResult, GateDecision
from medselect.registry.improvement import bootstrap_pvalue, interval, wilcoxon_greater

__all__ = ["evaluate_gate"]

SITE_COLUMN = SITE


def evaluate_gate(
    candidate: str,
    incumbents: Sequence[str],
    table: pd.DataFrame,
    criteria: GateCriteria,
    *,
    directions: Mapping[str, str],
    data: Mapping[str, Any] | None = None,
    set_metrics: SetMetrics | None = None,
    look: Look | None = None,
) -> GateDecision:
    """Judge ``candidate`` against every incumbent on the per-case table.

    Args:
        candidate: model ref of the candidate.
        incumbents: model refs it must beat (the champion first; none for a first version,
            when only ``min_patients`` is checked).
        table: the per-case table; rows of other models are ignored.
        criteria: the acceptance criteria.
        directions: ``{metric: "higher" | "lower"}`` for the primary and guard metrics.
        data: data versions to record with the decision.
        set_metrics: metrics defined over sets of cases (AUC, ...) that criteria may name;
            for them the improvement is the difference of the two models' values on the same
            resamples (always judged by the bootstrap).
        look: the level this look runs at (default: the first look of a fresh reference set,
            candidate named before looking: ``alpha / 2`` under geometric spending).

    Raises:
        RegistryError: a model has no values in the table (not evaluated), the models were
            not evaluated on the same cases, a direction is unknown, or the candidate is also
            listed as an incumbent.
    """
    incumbents = tuple(dict.fromkeys(incumbents))
    look = look or criteria.look()
    if candidate in incumbents:
        raise RegistryError(f"candidate {candidate!r} is also listed as a version to beat; a "
                            "model cannot be compared with itself")
    models = (candidate, *incumbents)
    rows = _rows_of(table, models)
    checks = [(criteria.primary, False), *((g, True) for g in criteria.guards)]
    matrices: dict[tuple[str, str], ScoreMatrix] = {}
    for item, _ in checks:
        if (item.metric, item.label) not in matrices:
            matrices[item.metric, item.label] = _matrix(rows, item, candidate, incumbents,
                                                        directions, set_metrics or {})
    primary = matrices[criteria.primary.metric, criteria.primary.label]
    n_cases = len(primary.cases)
    patients = primary.clusters()
    n_patients = patients.n_patients
    results = [_min_patients(n_cases, n_patients, criteria.min_patients)]
    notes = [_imputed(m) for m in matrices.values() if m.imputed.any()]
    if patients.assumed:
        notes.append("no two cases share a patient id, so each case counts as its own patient")
    if not incumbents:
        notes.append("no earlier version in this scope: only the number of patients is "
                     "checked")
    elif look.exhausted:
        results.append(CriterionResult(name="budget", passed=False, level=0.0,
                                       explanation=look.budget.advice))
    resamples: dict[tuple[str, ...], tuple[np.ndarray, Clusters]] = {}
    for incumbent in incumbents:
        for item, guard in checks:
            matrix = matrices[item.metric, item.label]
            if matrix.cases not in resamples:
                clusters = matrix.clusters(SITE_COLUMN)
                resamples[matrix.cases] = (resample_weights(clusters, criteria.n_resamples,
                                                            seed=criteria.seed), clusters)
            results.append(_compare(matrix, candidate, incumbent, item,
                                    *resamples[matrix.cases], criteria, look, guard=guard))
        if criteria.site_margin is not None:
            results.extend(_sites(primary, candidate, incumbent, criteria))
    if criteria.site_margin is not None and SITE_COLUMN not in primary.attributes.columns:
        notes.append("the per-case table has no 'site' column: the per-site check was skipped")
    return GateDecision(
        candidate=candidate,
        incumbents=incumbents,
        accepted=all(r.passed for r in results),
        n_cases=n_cases,
        n_patients=n_patients,
        results=tuple(results),
        look=look,
        criteria=criteria,
        directions={m.metric: m.direction.value for m in matrices.values()},
        data=dict(data or {}),
        notes=tuple(notes),
    )


def _rows_of(table: pd.DataFrame, models: tuple[str, ...]) -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame) or not set(KEY_COLUMNS) <= set(table.columns):
        got = list(table.columns) if isinstance(table, pd.DataFrame) else type(table).__name__
        raise RegistryError(f"the per-case table needs columns {list(KEY_COLUMNS)} (and "
                            f"'patient_id', 'site'), got {got}")
    rows = table[table["model"].isin(models)]
    absent = [m for m in models if m not in set(rows["model"])]
    if absent:
        raise RegistryError(f"no per-case values for {absent} on this case set; evaluate them "
                            "on the reference set first (`medselect evaluate`)")
    return rows


def _matrix(rows: pd.DataFrame, item: MetricMargin, candidate: str,
            incumbents: tuple[str, ...], directions: Mapping[str, str],
            set_metrics: SetMetrics) -> ScoreMatrix:
    """The cases x models matrix of one metric, after checking every model has the same cases."""
    stored = source_metrics([item.metric], set_metrics)[0]
    set_metric = set_metrics.get(item.metric)
    if set_metric is not None and set_metric.one_vs_rest and item.label == "mean":
        labels = sorted(set(rows.loc[rows["metric"] == stored, "label"].astype(str)))
        raise RegistryError(f"{item.metric} is computed one class against the rest: give the "
                            f"criterion the class as its label, one of: "
                            f"{', '.join(labels) or 'none'}")
    item = replace(item, label=resolve_label(rows, stored, item.label))
    sub = rows[(rows["metric"] == stored) & (rows["label"] == item.label)]
    what = f"{item.metric!r} (label {item.label!r})"
    cases = {m: set(c) for m, c in sub.groupby("model")["case_id"]}
    own = cases.get(candidate, set())
    if not own:
        raise RegistryError(f"candidate {candidate!r} has no {what} values; evaluate it on the "
                            "reference set with that metric first")
    for incumbent in incumbents:
        other = cases.get(incumbent, set())
        if other != own:
            raise RegistryError(
                f"{candidate!r} and {incumbent!r} were not evaluated on the same cases for "
                f"{what}: {_few(other - own)} only {incumbent!r} has, {_few(own - other)} only "
                f"{candidate!r} has; evaluate the missing cases first so both are judged on "
                "the same cases")
    try:
        direction = direction_of(item.metric, None, directions)
        return metric_matrix(sub, item.metric, direction, label=item.label,
                             set_metrics=set_metrics)
    except RankingError as exc:
        raise RegistryError(str(exc)) from None


def _compare(matrix: ScoreMatrix, candidate: str, incumbent: str, item: MetricMargin,
             weights: np.ndarray, clusters: Clusters, criteria: GateCriteria, look: Look, *,
             guard: bool) -> CriterionResult:
    """Primary (improvement above the margin) or guard (above minus the margin) check, at
    the look's level."""
    pair = matrix.only([candidate, incumbent])
    statistic, resampled = _improvement(pair, weights)
    threshold = -item.margin if guard else item.margin
    ci = interval(resampled, criteria.confidence, clusters)
    level = number_text(look.alpha)
    if criteria.test == PairedTest.BOOTSTRAP or pair.reduced_by is not None:
        p_value = bootstrap_pvalue(statistic, resampled, threshold, clusters)
        how = "cluster-bootstrap"
        if criteria.test != PairedTest.BOOTSTRAP:
            how += f" ({item.metric} has no per-case values for Wilcoxon)"
    else:
        per_patient = clusters.patient_means(pair.oriented)
        _, p_value = wilcoxon_greater(per_patient[:, 0] - per_patient[:, 1], threshold)
        how = "Wilcoxon signed-rank (one value per patient)"
    passed = p_value < look.alpha
    metric = item.metric
    verdict = (f"the one-sided {how} p-value {p_value_text(p_value)} for an improvement above "
               f"{value_text(threshold, metric, signed=True)} is "
               f"{'below' if passed else 'not below'} this look's level {level}")
    margin = value_text(item.margin, metric)
    aim = (f"must not be worse than {incumbent!r} by more than {margin}" if guard else
           f"must beat {incumbent!r} by more than {margin}")
    what = "mean improvement" if pair.reduced_by is None else "improvement"
    explanation = (f"{_metric(item, matrix)} {aim}: {what} "
                   f"{value_text(statistic, metric, signed=True)} over "
                   f"{clusters.n_patients} patients ({len(pair.cases)} cases; "
                   f"{criteria.confidence:.0%} CI {interval_text(ci, metric)}); {verdict}")
    return CriterionResult(
        name="guard" if guard else "primary", passed=bool(passed), explanation=explanation,
        incumbent=incumbent, metric=item.metric, label=matrix.label, n_cases=len(pair.cases),
        n_patients=clusters.n_patients, statistic=statistic, ci=ci, p_value=p_value,
        threshold=threshold, level=look.alpha)


def _improvement(pair: ScoreMatrix, weights: np.ndarray) -> tuple[float, np.ndarray]:
    """How much the first model of ``pair`` beats the second (positive: better), and the same
    on every weighted resample.

    For a per-case metric it is the mean per-case improvement; for a set metric (AUC) the
    difference of the two models' values, both computed on the same resampled cases.
    """
    if pair.reduced_by is None:
        improvement = pair.oriented[:, [0]] - pair.oriented[:, [1]]
        return float(improvement.mean()), resampled_aggregates(improvement, Mean(),
                                                                weights)[:, 0]
    sign = 1.0 if pair.direction == Direction.HIGHER else -1.0
    reduce = pair.reduced_by
    truth = truth_values(pair, reduce)
    point = sign * np.asarray(reduce(pair.values, truth), dtype=float)
    samples = sign * resampled_aggregates(pair.values, reduce, weights, truth)
    return float(point[0] - point[1]), samples[:, 0] - samples[:, 1]


def _sites(matrix: ScoreMatrix, candidate: str, incumbent: str,
           criteria: GateCriteria) -> list[CriterionResult]:
    """No site may lose more than ``site_margin`` on the primary metric (its improvement at
    the site; a set metric undefined there, e.g. an AUC of one class, cannot be checked)."""
    if SITE_COLUMN not in matrix.attributes.columns:
        return []
    pair = matrix.only([candidate, incumbent])
    sites = pair.attributes[SITE_COLUMN].astype(str).to_numpy()
    threshold = -criteria.site_margin
    out = []
    for site in sorted(set(sites)):
        at_site = pair.subset(sites == site)
        clusters = at_site.clusters()
        weights = resample_weights(clusters, criteria.n_resamples, seed=criteria.seed)
        statistic, resampled = _improvement(at_site, weights)
        ci = interval(resampled, criteria.confidence, clusters)
        if np.isnan(statistic):
            out.append(CriterionResult(
                name="site", passed=True, incumbent=incumbent, metric=matrix.metric,
                label=matrix.label, site=site, n_cases=len(at_site.cases),
                n_patients=clusters.n_patients, statistic=statistic, ci=ci,
                threshold=threshold,
                explanation=(f"site {site!r}: {_metric(criteria.primary, matrix)} is undefined "
                             f"on its {len(at_site.cases)} cases (e.g. one class only), so the "
                             "site could not be checked")))
            continue
        passed = statistic >= threshold
        out.append(CriterionResult(
            name="site", passed=passed, incumbent=incumbent, metric=matrix.metric,
            label=matrix.label, site=site, n_cases=len(at_site.cases),
            n_patients=clusters.n_patients, statistic=statistic, ci=ci, threshold=threshold,
            explanation=(f"site {site!r}: {_metric(criteria.primary, matrix)} improvement "
                         f"over {incumbent!r} is "
                         f"{value_text(statistic, matrix.metric, signed=True)} on "
                         f"{clusters.n_patients} patients ({len(at_site.cases)} cases) "
                         f"({criteria.confidence:.0%} CI {interval_text(ci, matrix.metric)}), "
                         f"{'within' if passed else 'beyond'} the allowed loss of "
                         f"{value_text(criteria.site_margin, matrix.metric)}")))
    return out


def _min_patients(n_cases: int, n_patients: int, minimum: int) -> CriterionResult:
    passed = n_patients >= minimum
    return CriterionResult(
        name="min_patients", passed=passed, n_cases=n_cases, n_patients=n_patients,
        statistic=float(n_patients), threshold=float(minimum),
        explanation=(f"{n_patients} patients ({n_cases} cases) were evaluated by every model; "
                     f"at least {minimum} patients are "
                     f"{'needed, and there are enough' if passed else 'needed'}"))


def _metric(item: MetricMargin, matrix: ScoreMatrix) -> str:
    return f"{item.metric} ({matrix.label}, {matrix.direction.value} is better)"


def _imputed(matrix: ScoreMatrix) -> str:
    counts = ", ".join(f"{m!r}: {n}" for m, n in zip(matrix.models, matrix.n_imputed,
                                                      strict=True) if n)
    counted = ("wrong answers" if matrix.reduced_by is not None
               else f"the worst observed value {value_text(matrix.worst, matrix.metric)}")
    return f"{matrix.metric} ({matrix.label}): missing values counted as {counted} ({counts})"


def _few(cases: set[str], shown: int = 5) -> str:
    if not cases:
        return "0 cases"
    listed = ", ".join(sorted(map(str, cases))[:shown])
    return f"{len(cases)} case(s) ({listed}{', ...' if len(cases) > shown else ''})"
