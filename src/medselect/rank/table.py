"""The per-case table and the cases x models matrix every statistic works on.

The per-case table (:mod:`medselect.casetable`) is long: one row per ``model``, ``case_id``,
``metric``, ``label`` with its ``value``; any further column (``patient_id``, ``site``, ...) is
an attribute of the case. For one metric and label it becomes a :class:`ScoreMatrix`, in which a
missing value (no row, or NaN) counts as the *worst* value of the metric, so a model that failed
on a case is never rewarded for it; how many values were imputed is kept per model and
reported. The matrix knows its cases' patients (:meth:`ScoreMatrix.clusters`), the unit every
statistic resamples and tests.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from medselect.casetable import CASE_LABEL, KEY_COLUMNS, PATIENT, Direction, require_columns
from medselect.config.choices import choice_error, did_you_mean
from medselect.errors import RankingError
from medselect.rank.clusters import Clusters

__all__ = [
    "AnalysisUnit",
    "Direction",
    "ScoreMatrix",
    "as_direction",
    "dense_score_matrix",
    "direction_of",
    "for_metric",
    "resolve_label",
    "score_matrix",
    ]


class AnalysisUnit(StrEnum):
    """What an aggregate weighs equally. Patients are resampled and tested either way.

    ``case``: every case (slice, visit) counts once, so a patient with more cases weighs more;
    ``patient``: each patient's cases are averaged first, then every patient counts once.
    """

    CASE = "case"
    PATIENT = "patient"


def as_direction(value: object, metric: str = "metric") -> Direction:
    """``Direction(value)`` from an enum or a string, raising :class:`RankingError`."""
    if isinstance(value, Direction):
        return value
    try:
        return Direction(str(value).strip().lower())
    except ValueError:
        raise RankingError(f"{metric}: {choice_error(Direction, value)}") from None


def direction_of(
    metric: str, direction: Direction | str | None, directions: Mapping[str, object] | None
) -> Direction:
    """The direction given for this call, else ``directions[metric]``, else the metric
    catalogue's (:func:`medselect.metrics.directions`) for a metric medselect knows.

    Raises:
        RankingError: none says which way ``metric`` is better.
    """
    if direction is None:
        if directions is None or metric not in directions:
            from medselect.metrics import directions as catalogue

            known = catalogue([metric])
            if metric not in known:
                raise RankingError(f"no direction for metric {metric!r}; pass directions="
                                   f"{{{metric!r}: 'higher' or 'lower'}} (directions given "
                                   f"for: {sorted(directions or {})})")
            return as_direction(known[metric], metric)
        direction = directions[metric]
    return as_direction(direction, metric)


@dataclass(frozen=True, eq=False)
class ScoreMatrix:
    """One metric and label as a cases x models matrix, missing values already imputed.

    Attributes:
        values: float array (n_cases, n_models), read-only; imputed cells hold ``worst``.
        imputed: bool array of the same shape, True where the value was missing.
        worst: the value imputed for a missing one.
        attributes: case attributes (site, ...) indexed by case id, in the order of ``cases``.
        reduced_by: for a set metric (:mod:`medselect.rank.setmetric`), the one aggregate its
            values mean anything under; None for a per-case metric.
    """

    metric: str
    label: str
    direction: Direction
    models: tuple[str, ...]
    cases: tuple[str, ...]
    values: np.ndarray
    imputed: np.ndarray
    worst: float
    attributes: pd.DataFrame
    reduced_by: Any = None

    @property
    def oriented(self) -> np.ndarray:
        """``values`` signed so that higher is always better."""
        return self.values if self.direction == Direction.HIGHER else -self.values

    @property
    def n_imputed(self) -> np.ndarray:
        """Per model, how many of its values were missing and imputed as the worst."""
        return self.imputed.sum(axis=0)

    def subset(self, cases: np.ndarray) -> ScoreMatrix:
        """The matrix on some cases only (a boolean mask or indices); ``worst`` is kept."""
        idx = np.flatnonzero(cases) if np.asarray(cases).dtype == bool else np.asarray(cases)
        return replace(
            self,
            cases=tuple(self.cases[i] for i in idx),
            values=readonly(self.values[idx]),
            imputed=readonly(self.imputed[idx]),
            attributes=self.attributes.iloc[idx],
        )

    def only(self, models: Sequence[str]) -> ScoreMatrix:
        """The matrix restricted to ``models``, in that order."""
        pos = {m: i for i, m in enumerate(self.models)}
        missing = [m for m in models if m not in pos]
        if missing:
            raise RankingError(f"models {missing} are not in the table; it has "
                               f"{list(self.models)}")
        cols = [pos[m] for m in models]
        return replace(self, models=tuple(models), values=readonly(self.values[:, cols]),
                       imputed=readonly(self.imputed[:, cols]))

    def on_cases(self, cases: Collection[str]) -> ScoreMatrix:
        """The matrix on the cases whose ids are in ``cases`` (order kept)."""
        wanted = set(cases)
        return self.subset(np.array([c in wanted for c in self.cases], dtype=bool))

    def strata(self, attribute: str | None) -> np.ndarray | None:
        """Integer codes of a case attribute, or None when it is None or not in the table."""
        if attribute is None or attribute not in self.attributes.columns:
            return None
        codes, _ = pd.factorize(self.attributes[attribute], use_na_sentinel=False)
        return codes

    def clusters(self, stratify: str | None = None) -> Clusters:
        """The cases' patients (each case its own where the table has no patient id) and,
        when ``stratify`` names a case attribute, each patient's stratum."""
        patients = (self.attributes[PATIENT].to_numpy() if PATIENT in self.attributes.columns
                    else None)
        strata = self.strata(stratify)
        return Clusters.of(len(self.cases), patients, strata)

    def per_patient(self) -> ScoreMatrix:
        """One row per patient: the mean of its cases' values (its first case's other
        attributes). A patient's value counts as imputed when any of its cases' was."""
        clusters = self.clusters()
        if clusters.n_patients == len(self.cases):
            return self
        first = clusters.first_case
        imputed = clusters.patient_means(self.imputed.astype(float)) > 0
        attributes = self.attributes.iloc[first]
        patients = (attributes[PATIENT].astype(str) if PATIENT in attributes.columns
                    else pd.Series(np.asarray(self.cases)[first]))
        return replace(
            self, cases=tuple(patients), values=readonly(clusters.patient_means(self.values)),
            imputed=readonly(imputed),
            attributes=attributes.set_axis(pd.Index(tuple(patients), name="case_id")),
        )

    def to_frame(self) -> pd.DataFrame:
        """The values as a DataFrame, cases as index and models as columns."""
        return pd.DataFrame(self.values, index=pd.Index(self.cases, name="case_id"),
                            columns=pd.Index(self.models, name="model"))


def score_matrix(
    table: pd.DataFrame,
    metric: str,
    direction: Direction | str,
    *,
    label: str = "mean",
    worst: float | None = None,
) -> ScoreMatrix:
    """Pivot one metric and label of the per-case table to a cases x models matrix.

    The cases are those with at least one row for ``metric`` and ``label``; the models are all
    models of the table, so a model without any row for them ranks last on every case.

    Args:
        table: the long per-case table (:data:`medselect.casetable.KEY_COLUMNS` plus case
            attributes).
        metric: metric name as stored, e.g. ``"dice"``.
        direction: ``"higher"`` or ``"lower"`` is better.
        label: class or landmark name, ``"mean"`` or ``"case"``; ``"mean"`` stands for
            ``"case"`` when the metric has case values only.
        worst: value imputed where a value is missing; default the worst value observed for
            this metric and label (pass the metric's true worst, e.g. 0 for Dice, to penalise
            a missing prediction more than the worst real case).

    Raises:
        RankingError: a required column is missing, the metric or label is not in the table
            (the message lists what is), a (model, case) pair repeats, or every value is NaN.
    """
    direction = as_direction(direction, metric)
    require_columns(table)
    label = resolve_label(table, metric, label)
    rows = table[(table["metric"] == metric) & (table["label"] == label)]
    if rows.empty:
        raise RankingError(_absent(table, metric, label))
    models = sorted(table["model"].dropna().unique())
    case_codes, cases = pd.factorize(rows["case_id"], sort=True)
    # factorize, then look up the few distinct names (10x faster than get_indexer on every row)
    model_codes, row_models = pd.factorize(rows["model"])
    model_codes = np.append(pd.Index(models).get_indexer(row_models), -1)[model_codes]
    flat = case_codes.astype(np.int64) * len(models) + model_codes
    if np.bincount(flat, minlength=1).max() > 1:
        dup = rows[pd.Series(flat, index=rows.index).duplicated(keep=False)].iloc[0]
        raise RankingError(f"the per-case table has more than one {metric!r}/{label!r} value "
                           f"for model {dup['model']!r} on case {dup['case_id']!r}; keep one "
                           "row per model, case, metric and label")
    values = np.full(len(cases) * len(models), np.nan)
    values[flat] = pd.to_numeric(rows["value"], errors="coerce").to_numpy(dtype=float)
    return dense_score_matrix(values.reshape(len(cases), len(models)), metric, direction,
                              label=label, models=models, cases=cases,
                              attributes=_case_attributes(table, cases), worst=worst)


def dense_score_matrix(
    values: np.ndarray,
    metric: str,
    direction: Direction | str,
    *,
    label: str,
    models: Sequence[str],
    cases: Sequence[str],
    attributes: pd.DataFrame,
    worst: float | None = None,
) -> ScoreMatrix:
    """The :class:`ScoreMatrix` of a cases x models array with NaN where a value is missing
    (imputed as :func:`score_matrix` does; ``values`` is filled in place). For a caller that
    has the array already (e.g. read straight from stored arrays), so no long table is made.

    Raises:
        RankingError: every value is NaN.
    """
    direction = as_direction(direction, metric)
    missing = np.isnan(values)
    if missing.all():
        raise RankingError(f"every {metric!r} value for label {label!r} is missing (NaN); "
                           "there is nothing to rank")
    if worst is None:
        worst = float(np.nanmin(values) if direction == Direction.HIGHER else np.nanmax(values))
    values[missing] = worst
    return ScoreMatrix(
        metric=metric, label=label, direction=direction, models=tuple(models),
        cases=tuple(str(c) for c in cases), values=readonly(values),
        imputed=readonly(missing), worst=float(worst), attributes=attributes,
    )


def resolve_label(table: pd.DataFrame, metric: str, label: str) -> str:
    """``label``, except that ``"mean"`` (every default) stands for ``"case"`` when the
    metric has case values only (classification)."""
    if label == "mean":
        labels = table.loc[table["metric"] == metric, "label"].unique()
        if len(labels) == 1 and labels[0] == CASE_LABEL:
            return CASE_LABEL
    return label


def for_metric(metric: str, value: float | Mapping[str, float] | None) -> float | None:
    """A per-metric setting (imputation value, equivalence margin) for ``metric``, from one
    number for all metrics or a per-metric mapping."""
    if isinstance(value, Mapping):
        return value.get(metric)
    return value


def _absent(table: pd.DataFrame, metric: str, label: str) -> str:
    metrics = _sorted_unique(table["metric"])
    if metric not in metrics:
        return (f"metric {metric!r} is not in the per-case table; "
                f"{did_you_mean(metric, metrics)}it has: " + ", ".join(metrics))
    labels = _sorted_unique(table.loc[table["metric"] == metric, "label"])
    return f"label {label!r} has no {metric!r} values; labels of {metric!r}: " + ", ".join(labels)


def _case_attributes(table: pd.DataFrame, cases: pd.Index) -> pd.DataFrame:
    columns = [c for c in table.columns if c not in KEY_COLUMNS]
    first = table.drop_duplicates("case_id").set_index("case_id")
    return first.loc[cases, columns]


def _sorted_unique(column: pd.Series) -> list[str]:
    return sorted(str(v) for v in column.dropna().unique())


def readonly(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array)
    array.setflags(write=False)
    return array
