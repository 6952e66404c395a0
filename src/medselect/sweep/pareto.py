"""The Pareto front of a sweep's study: the runs no other run beats on every objective.

The values are those the study holds for its complete trials, one point per run (a
configuration proposed twice is one point); the front is :func:`medselect.rank.pareto_front`,
the same definition of "dominated" that ``medselect rank``'s Pareto view applies to evaluated
metrics, so the two agree whenever they are given the same numbers. It is also what Optuna
calls the study's best trials.
"""

from __future__ import annotations

from dataclasses import dataclass

import optuna
import pandas as pd
from optuna.trial import TrialState

from medselect.rank import pareto_front
from medselect.store import Workspace
from medselect.sweep.jobs import StudyObjective
from medselect.sweep.study import IDENTITY_ATTR, RUN_ATTR, study_storage


@dataclass(frozen=True)
class ParetoPoint:
    """One run of the study: the trials that proposed it, its objective values, and whether
    it is on the front."""

    run_id: str
    trials: tuple[int, ...]
    values: tuple[float, ...]
    on_front: bool


@dataclass(frozen=True)
class StudyFront:
    """A study's objectives and its runs' points, the front first (by the first objective)."""

    study: str
    objectives: tuple[StudyObjective, ...]
    points: tuple[ParetoPoint, ...]

    @property
    def front(self) -> list[ParetoPoint]:
        return [p for p in self.points if p.on_front]

    def to_dict(self) -> dict:
        """JSON-safe form."""
        return {"study": self.study,
                "objectives": [o._asdict() for o in self.objectives],
                "points": [{"run": p.run_id, "trials": list(p.trials), "on_front": p.on_front,
                            **dict(zip([o.metric for o in self.objectives], p.values,
                                       strict=True))} for p in self.points]}


def study_fronts(ws: Workspace, sweep: str | None = None) -> list[StudyFront]:
    """The front of every medselect study in the workspace (of sweep ``sweep`` only, when
    given), by study name."""
    with study_storage(ws) as storage:
        names = sorted(n for n in optuna.get_all_study_names(storage)
                       if sweep is None or n.startswith(f"{sweep}@"))
        studies = [optuna.load_study(study_name=n, storage=storage,
                                     sampler=optuna.samplers.RandomSampler()) for n in names]
        return [front_of(s) for s in studies if IDENTITY_ATTR in s.user_attrs]


def front_of(study: optuna.Study) -> StudyFront:
    """The :class:`StudyFront` of one study."""
    objectives = tuple(StudyObjective(*o) for o in study.user_attrs[IDENTITY_ATTR]["objectives"])
    trials: dict[str, list[int]] = {}
    values: dict[str, tuple[float, ...]] = {}
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        run_id = trial.user_attrs[RUN_ATTR]
        trials.setdefault(run_id, []).append(trial.number)
        values.setdefault(run_id, tuple(trial.values))
    signs = [1.0 if o.direction == "maximize" else -1.0 for o in objectives]
    oriented = pd.DataFrame([[s * v for s, v in zip(signs, vals, strict=True)]
                             for vals in values.values()], index=list(values))
    front = set(pareto_front(oriented)) if values else set()
    points = [ParetoPoint(r, tuple(trials[r]), values[r], r in front) for r in values]
    first = signs[0]
    points.sort(key=lambda p: (not p.on_front, -first * p.values[0], p.run_id))
    return StudyFront(study.study_name, objectives, tuple(points))
