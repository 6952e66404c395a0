"""Choosing among models shown equivalent to the best.

When several models are shown equivalent to the top one (or tied with it exactly), a
user-chosen sequence of criteria decides (fewer parameters, faster inference, a secondary
metric, any column of the per-model attribute table); each criterion keeps the models with its
best value and the next one sees only those. What is left after all criteria is settled by the
point estimate, then by name, so the choice is always deterministic and always explained.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from medselect.config.ranking import TieBreak, parse_tie_break
from medselect.errors import RankingError
from medselect.rank.aggregate import Aggregate, truth_values
from medselect.rank.setmetric import SetMetrics, aggregate_of, metric_matrix
from medselect.rank.table import Direction, ScoreMatrix, direction_of, for_metric

__all__ = [
    "TieBreak",
    "TieDecision",
    "break_tie",
    "parse_tie_break",
    "secondary_matrices",
    "secondary_values",
]


@dataclass(frozen=True)
class TieDecision:
    """Which model was chosen among ``candidates``, and whether a tie-break decided it."""

    winner: str
    candidates: tuple[str, ...]
    decided_by_tie_break: bool
    reason: str


def break_tie(
    candidates: Sequence[str],
    point: Mapping[str, float],
    criteria: Sequence[TieBreak | str] = (),
    *,
    model_info: pd.DataFrame | None = None,
    secondary: Mapping[str, tuple[Mapping[str, float], bool]] | None = None,
    why: str | None = None,
) -> TieDecision:
    """Pick one of ``candidates`` (the best model and those shown equivalent to it).

    Args:
        candidates: at least one model name.
        point: each candidate's aggregate, oriented so that higher is better.
        criteria: tie-breaks in order of priority (parsed from strings if needed).
        model_info: per-model attributes indexed by model (``parameters``,
            ``inference_seconds``, ...), for column tie-breaks.
        secondary: for ``metric:<name>`` tie-breaks, name -> (model -> aggregate, whether
            lower is better).
        why: what makes the candidates one group, for the reason (default: "shown
            equivalent to the best").

    Raises:
        RankingError: a tie-break needs a column or metric that was not given.
    """
    criteria = [_as_tie_break(c) for c in criteria]
    candidates = tuple(candidates)
    if len(candidates) == 1:
        return TieDecision(candidates[0], candidates, False,
                           f"no other model is shown equivalent to {candidates[0]}")
    group = why or (f"{len(candidates)} models are shown equivalent to the best "
                    f"({', '.join(candidates)})")
    remaining, steps = list(candidates), []
    for criterion in criteria:
        if len(remaining) == 1:
            break
        values, lower = _values(criterion, remaining, model_info, secondary or {})
        known = {m: v for m, v in values.items() if not math.isnan(v)}
        if not known:
            steps.append(f"{criterion.text} has no value for {', '.join(remaining)}")
            continue
        target = (min if lower else max)(known.values())
        shown = ", ".join(f"{m} {readable(values[m], criterion)}" for m in remaining)
        remaining = [m for m in remaining if known.get(m) == target]
        steps.append(f"{criterion.text} kept {', '.join(remaining)} ({shown})")
    by_point = sorted(remaining, key=lambda m: (-_finite(point[m]), m))
    winner = by_point[0]
    exact = len({point[m] for m in remaining}) == 1
    kept = (f"they are tied on the point estimate too, so the first by name, {winner}, was "
            "kept" if exact else f"the best point estimate, {winner}, was kept")
    if not criteria:
        return TieDecision(winner, candidates, False,
                           f"{group}; no tie-break was given, so {kept}")
    rest = "" if len(remaining) == 1 else f"; still tied, {kept}"
    return TieDecision(winner, candidates, True,
                       f"{group}; tie-break decided: {'; '.join(steps)}{rest}")


def secondary_matrices(
    table: pd.DataFrame,
    tie_break: Sequence[TieBreak | str],
    directions: Mapping[str, Direction | str] | None,
    label: str,
    worst: float | Mapping[str, float] | None,
    set_metrics: SetMetrics | None = None,
) -> dict[str, ScoreMatrix]:
    """The score matrices that the ``metric:<name>`` tie-breaks need."""
    names = [c.metric for c in map(_as_tie_break, tie_break) if c.metric]
    return {name: metric_matrix(table, name, direction_of(name, None, directions), label=label,
                                worst=for_metric(name, worst), set_metrics=set_metrics)
            for name in names}


def secondary_values(
    secondary: Mapping[str, ScoreMatrix], cases: Collection[str], aggregate: Aggregate
) -> dict[str, tuple[dict[str, float], bool]]:
    """The ``secondary`` argument of :func:`break_tie`: each secondary metric aggregated over
    the given cases (those it has), and whether lower is better."""
    out = {}
    for name, matrix in secondary.items():
        sub = matrix.on_cases(cases)
        if not sub.cases:
            continue
        reduce = aggregate_of(sub, aggregate)
        values = reduce(sub.values, truth_values(sub, reduce))
        out[name] = (dict(zip(sub.models, map(float, values), strict=True)),
                     sub.direction == Direction.LOWER)
    return out


COLUMN_UNITS = {"parameters": "parameters", "inference_seconds": "s"}
"""The unit a column tie-break's values are told in."""
_SCALES = ((1e9, "G"), (1e6, "M"), (1e3, "k"))


def readable(value: float, criterion: TieBreak) -> str:
    """A tie-break value as a sentence tells it: ``1.58 M parameters``, ``0.0123 s``, ``0.912``
    (a secondary metric's aggregate), ``unknown`` (NaN: e.g. an external model's parameters).
    """
    if math.isnan(value):
        return "unknown"
    unit = COLUMN_UNITS.get(criterion.column or "", "")
    prefix = ""
    for scale, name in _SCALES:
        if abs(value) >= scale:
            value, prefix = value / scale, f" {name}"
            break
    text = f"{value:.3g}{prefix}"
    return f"{text} {unit}" if unit else text


def _as_tie_break(criterion: TieBreak | str) -> TieBreak:
    return criterion if isinstance(criterion, TieBreak) else _parse(criterion)


def _parse(text: str) -> TieBreak:
    try:
        return parse_tie_break(text)
    except ValueError as exc:
        raise RankingError(str(exc)) from None


def _values(
    criterion: TieBreak,
    models: list[str],
    model_info: pd.DataFrame | None,
    secondary: Mapping[str, tuple[Mapping[str, float], bool]],
) -> tuple[dict[str, float], bool]:
    if criterion.metric is not None:
        if criterion.metric not in secondary:
            raise RankingError(f"tie-break {criterion.text!r} needs the metric "
                               f"{criterion.metric!r}, which was not evaluated")
        values, lower = secondary[criterion.metric]
        return {m: float(values.get(m, math.nan)) for m in models}, lower
    if model_info is None or criterion.column not in model_info.columns:
        have = [] if model_info is None else list(model_info.columns)
        raise RankingError(f"tie-break {criterion.text!r} needs a {criterion.column!r} column "
                           f"in the per-model attribute table (model_info); it has {have}")
    column = pd.to_numeric(model_info[criterion.column], errors="coerce")
    return {m: float(column.get(m, math.nan)) for m in models}, criterion.lower_is_better


def _finite(value: float) -> float:
    return -math.inf if math.isnan(value) else value
