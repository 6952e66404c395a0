"""What a set of new cases says before anyone labels it: input drift, output signals and the
"review first" queue.

- :func:`input_drift`: per site of the new cases, how far their images lie from the training
  split of the task's latest training version (:mod:`.drift`).
- :func:`output_signals`: per top model, what it predicts on the new cases (volume per class,
  class shares, landmark spread) against what the same model predicts on the test split.
- :func:`review_queue`: the new cases ordered by how much the top models disagree on them
  (:mod:`.agreement`), most first.

The *top models* (:func:`top_models`) are those the task's ranking cannot tell apart from the
chosen one: its best group (shown equivalent) and the unresolved ones (neither shown worse nor
equivalent), as :func:`medselect.choose.choose_model` ranks them on the selection set. Only
models evaluated on the new cases count; when fewer than two are, the ranking's next models
fill in, and the queue says so. Everything here reads the store and the workspace's files and
writes nothing, so the CLI and the dashboard show the same figures.

Example::

    queue = review_queue(ws, "knee", "dv-1a2b3c-new")
    [(e.case_id, e.score) for e in queue.entries[:5]]
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from medselect.choose import choose_model
from medselect.config import TaskKind
from medselect.data import latest_training_version, named_case_set
from medselect.data.readers import read_image
from medselect.errors import DataError, MedselectError, NotFound
from medselect.evaluate.agreement import (
    class_disagreement,
    landmark_spread,
    segmentation_disagreement,
)
from medselect.evaluate.drift import DRIFT_COLUMNS, drift_summary, feature_drift, image_features
from medselect.jsonsafe import json_number
from medselect.metrics.geometry import voxel_volume
from medselect.store import (
    Workspace,
    acceptance_by_case,
    case_set_members,
    get_case_set,
    get_cases,
    get_predictions,
    get_task,
    latest_evaluations,
    list_case_sets,
    task_family,
)

__all__ = ["MEASURES", "InputDrift", "OutputSignals", "QueueEntry", "ReviewQueue", "TopModels",
           "find_case_set", "input_drift", "output_signals", "prediction_files", "review_queue",
           "top_models"]

MEASURES: Mapping[str, str] = {
    TaskKind.SEGMENTATION: "1 - mean pairwise Dice between the top models' label maps",
    TaskKind.CLASSIFICATION: "normalised entropy of the top models' mean class probabilities",
    TaskKind.LANDMARKS: "mean pairwise distance (mm) between the top models' landmarks",
}
"""What the queue's score measures, per task family."""


@dataclass(frozen=True)
class TopModels:
    """The models the ranking cannot tell apart, evaluated on the new cases.

    Attributes:
        models: best first.
        basis: one sentence: how they were chosen.
    """

    models: tuple[str, ...]
    basis: str


@dataclass(frozen=True)
class InputDrift:
    """Per site and feature, the new cases against the training split (:mod:`.drift`)."""

    task: str
    case_set: str
    training_version: str
    table: pd.DataFrame
    notes: tuple[str, ...] = ()

    @classmethod
    def unavailable(cls, task: str, case_set: str, reason: str) -> InputDrift:
        """No comparison (the task has no training cases here), and why: the review queue
        still stands without it."""
        return cls(task, case_set, "", pd.DataFrame(columns=["site", "feature", "drift"]),
                   (reason,))

    @property
    def drifting(self) -> dict[str, list[str]]:
        """Site -> the features that drift there."""
        return drift_summary(self.table)

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "case_set": self.case_set,
                "training_version": self.training_version, "drifting": self.drifting,
                "features": _records(self.table), "notes": list(self.notes)}


@dataclass(frozen=True)
class OutputSignals:
    """Per top model, site and signal: the new cases against the same model on the test split
    (the columns of :func:`~medselect.evaluate.drift.feature_drift`, ``drift``: it shifted)."""

    task: str
    case_set: str
    test_case_set: str | None
    top: TopModels
    table: pd.DataFrame
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "case_set": self.case_set,
                "test_case_set": self.test_case_set, "top_models": list(self.top.models),
                "basis": self.top.basis, "signals": _records(self.table),
                "notes": list(self.notes)}


@dataclass(frozen=True)
class QueueEntry:
    """One new case in the queue.

    Attributes:
        score: the disagreement (see :data:`MEASURES`); None when it could not be computed
            (fewer than two top models predicted the case, or a prediction is unreadable).
        agree: classification only: whether every top model predicts the same class.
        reviewed, accepted: current expert verdicts on the case (any model) and how many are
            ``acceptable``.
    """

    case_id: str
    patient_id: str
    site: str
    labelled: bool
    score: float | None
    agree: bool | None
    models: tuple[str, ...]
    reviewed: int
    accepted: int

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["score"], out["models"] = json_number(self.score), list(self.models)
        return out


@dataclass(frozen=True)
class ReviewQueue:
    """The new cases, the ones the top models disagree on most first."""

    task: str
    case_set: str
    family: str
    measure: str
    top: TopModels
    entries: tuple[QueueEntry, ...]
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "case_set": self.case_set, "family": self.family,
                "measure": self.measure, "top_models": list(self.top.models),
                "basis": self.top.basis, "notes": list(self.notes),
                "cases": [e.to_dict() for e in self.entries]}


def find_case_set(conn: sa.Connection, task: str, which: str) -> dict[str, Any]:
    """The case set ``which`` names: an id or name :func:`~medselect.data.named_case_set`
    resolves, or the name of a set of new cases (the newest of that name, e.g. ``imagesTs``
    for ``evaluate --cases lyon/imagesTs``).

    Raises:
        NotFound: nothing of the task has that id or name.
    """
    try:
        return named_case_set(conn, task, which)
    except NotFound:
        named = [r for r in list_case_sets(conn, task, kind="new") if r["name"] == which]
        if not named:
            raise
        return named[-1]


def top_models(conn: sa.Connection, task: str, case_set: str) -> TopModels:
    """The task's indistinguishable top models among those evaluated on ``case_set``.

    Raises:
        NotFound: no model has a finished evaluation on ``case_set``.
    """
    evaluated = latest_evaluations(conn, case_set)
    if not evaluated:
        raise NotFound(f"no model has a finished evaluation on case set {case_set!r}; run "
                       f"`medselect evaluate --cases {case_set}` first")
    try:
        board = choose_model(conn, task).report.leaderboard
    except MedselectError as exc:
        return TopModels(tuple(sorted(evaluated)), (
            f"the task's models cannot be ranked ({exc}); every model evaluated on the new "
            "cases is compared"))
    order = [r.model for r in board.rows]
    group = [m for m in (*board.best_group, *board.unresolved) if m in evaluated]
    if len(group) >= 2:
        return TopModels(tuple(m for m in order if m in group), (
            f"the models the ranking on {board.metric} cannot tell apart from {board.best} "
            "(its best group and the unresolved ones)"))
    ranked = [m for m in order if m in evaluated] + sorted(set(evaluated) - set(order))
    return TopModels(tuple(ranked[:2]), (
        f"the ranking on {board.metric} separates {board.best} from the others, so it is "
        f"compared with the next model evaluated on the new cases"))


def input_drift(ws: Workspace, task: str, case_set: str) -> InputDrift:
    """Intensity, spacing and size of the new cases per site against the training split.

    Raises:
        NotFound: no such case set, or the task has no training version with training cases.
    """
    with ws.connect() as conn:
        get_case_set(conn, case_set)
        version = latest_training_version(conn, task)
        if version is None:
            raise NotFound(f"task {task!r} has no training data to compare new cases with; "
                           "import a dataset first")
        train = [c for c in get_cases(conn, version["id"]) if c["split"] == "train"]
        new = case_set_members(conn, case_set)
    if not train:
        raise NotFound(f"dataset version {version['id']!r} of task {task!r} has no training "
                       "case to compare new cases with")
    table = feature_drift(_features(ws, train), _features(ws, new))
    notes = [f"{_count(train, 'case')} of {version['id']}'s training split "
             f"({_count({c['patient_id'] for c in train}, 'patient')}) against "
             f"{_count(new, 'new case')} ({_count({c['patient_id'] for c in new}, 'patient')}); "
             "a patient's cases are averaged first"]
    trained_sites = {c["site"] for c in train}
    notes += [f"site {s!r} has no training case: drift there is expected, not a fault"
              for s in sorted({c["site"] for c in new} - trained_sites)]
    return InputDrift(task, case_set, version["id"], table, tuple(notes))


def output_signals(ws: Workspace, task: str, case_set: str) -> OutputSignals:
    """Per top model and site: mean predicted volume per class, class shares or landmark
    spread on the new cases, against the same model on the test split.

    Raises:
        NotFound: no model has a finished evaluation on ``case_set``.
    """
    with ws.connect() as conn:
        top = top_models(conn, task, case_set)
        row = get_task(conn, task)
        try:
            test = named_case_set(conn, task, "test")["id"]
        except NotFound:
            test = None
        new_members = case_set_members(conn, case_set)
        test_members = case_set_members(conn, test) if test else []
    signal = _signal_of(task_family(row), row["config"])
    notes: list[str] = []
    new = _signals(ws, case_set, new_members, top.models, signal, notes)
    old = _signals(ws, test, test_members, top.models, signal, notes) if test else {}
    if not old:
        notes.append("no prediction of these models on the test split: evaluate them there "
                     "(`medselect evaluate --cases test`) to compare")
    return OutputSignals(task, case_set, test, top, _compare_signals(new, old), tuple(notes))


def review_queue(ws: Workspace, task: str, case_set: str) -> ReviewQueue:
    """The new cases, those the top models disagree on most first (unscored cases last).

    Raises:
        NotFound: no such case set, or no model evaluated on it.
    """
    with ws.connect() as conn:
        top = top_models(conn, task, case_set)
        row = get_task(conn, task)
        members = case_set_members(conn, case_set)
        files = prediction_files(conn, case_set, top.models)
        verdicts = acceptance_by_case(conn, case_set)
    family = task_family(row)
    score = _scorer(family, row["config"])
    notes = []
    if len(top.models) < 2:
        notes.append("only one model is evaluated on these cases, so there is no "
                     "disagreement to order them by; evaluate more models on them")
    entries = []
    for case in members:
        paths = {m: files[m, case["case_id"]] for m in top.models if (m, case["case_id"]) in files}
        value, agree = None, None
        if len(paths) >= 2:
            try:
                value, agree = score(ws, case, list(paths.values()))
            except DataError as exc:  # one unreadable prediction must not hide the queue
                notes.append(f"case {case['case_id']!r} is not ordered: {exc}")
        counts = [v for (_, c), v in verdicts.items() if c == case["case_id"]]
        entries.append(QueueEntry(
            case_id=case["case_id"], patient_id=case["patient_id"] or case["case_id"],
            site=case["site"], labelled=_labelled(case), score=value, agree=agree,
            models=tuple(paths), reviewed=sum(n for _, n in counts),
            accepted=sum(a for a, _ in counts)))
    entries.sort(key=lambda e: (e.score is None, -(e.score or 0.0), e.case_id))
    return ReviewQueue(task, case_set, str(family), MEASURES.get(family, ""), top,
                       tuple(entries), tuple(notes))


# -- reading cases and predictions -------------------------------------------------------------

def _features(ws: Workspace, cases: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    rows = []
    for case in cases:
        images = [read_image(ws.path(uri)) for uri in case["image_uris"]]
        rows.append({"case_id": case["case_id"],
                     "patient_id": case["patient_id"] or case["case_id"],
                     "site": case["site"], **image_features(images)})
    return pd.DataFrame(rows)


def prediction_files(conn: sa.Connection, case_set: str,
                     models: Sequence[str] | None = None) -> dict[tuple[str, str], str]:
    """(model, case id) -> prediction file (workspace-relative) of each usable prediction of
    the newest finished evaluation of each model (every model by default) on ``case_set``."""
    out = {}
    for model, evaluation in latest_evaluations(
            conn, case_set, None if models is None else list(models)).items():
        for p in get_predictions(conn, evaluation["id"]):
            if p["status"] == "ok" and p["prediction_uri"]:
                out[model, p["case_id"]] = p["prediction_uri"]
    return out


def _spacing(ws: Workspace, case: Mapping[str, Any]) -> tuple[float, ...]:
    return read_image(ws.path(case["image_uris"][0])).spacing


def _json(ws: Workspace, uri: str) -> dict[str, Any]:
    return json.loads(ws.path(uri).read_text())


def _count(items: Sequence[Any] | set[Any], noun: str) -> str:
    return f"{len(items)} {noun}" + ("" if len(items) == 1 else "s")


def _labelled(case: Mapping[str, Any]) -> bool:
    return bool(case["label_uri"] or case["landmarks_uri"] or case["target"] is not None)


_Score = Callable[[Workspace, Mapping[str, Any], list[str]], tuple[float, bool | None]]


def _scorer(family: str, config: Mapping[str, Any]) -> _Score:
    """The disagreement of one case's prediction files, for the task family."""
    if family == TaskKind.CLASSIFICATION:
        def classes(ws, case, uris):
            return class_disagreement([list(_json(ws, u).values()) for u in uris])
        return classes
    if family == TaskKind.LANDMARKS:
        def points(ws, case, uris):
            return landmark_spread([_json(ws, u) for u in uris], _spacing(ws, case)), None
        return points
    foreground = range(1, len(config.get("classes") or ()) or 2)

    def masks(ws, case, uris):
        maps = [read_image(ws.path(u), kind="label") for u in uris]
        return segmentation_disagreement([m.array for m in maps], maps[0].spacing,
                                         list(foreground)), None
    return masks


_Signal = Callable[[Workspace, Mapping[str, Any], str], dict[str, float]]


def _signal_of(family: str, config: Mapping[str, Any]) -> _Signal:
    """Per prediction file, the output signals of the task family."""
    if family == TaskKind.CLASSIFICATION:
        def shares(ws, case, uri):
            p = _json(ws, uri)
            chosen = max(p, key=p.get)
            return {f"share:{name}": float(name == chosen) for name in p}
        return shares
    if family == TaskKind.LANDMARKS:
        def spread(ws, case, uri):
            points = _json(ws, uri)
            xyz = np.asarray(list(points.values()), dtype=float) * _spacing(ws, case)
            return {"spread_mm": float(np.linalg.norm(xyz - xyz.mean(axis=0), axis=1).mean())}
        return spread
    names = list(config.get("classes") or ())

    def volumes(ws, case, uri):
        label = read_image(ws.path(uri), kind="label")
        unit = voxel_volume(label.spacing)
        return {f"volume:{names[c] if c < len(names) else c}":
                float(np.count_nonzero(label.array == c) * unit)
                for c in range(1, max(len(names), 2))}
    return volumes


def _signals(ws: Workspace, case_set: str, members: Sequence[Mapping[str, Any]],
             models: Sequence[str], signal: _Signal,
             notes: list[str]) -> dict[str, pd.DataFrame]:
    """Model -> one row per predicted case of the set: patient, site and its signals; a
    prediction that cannot be read is left out and said in ``notes``."""
    by_id = {c["case_id"]: c for c in members}
    with ws.connect() as conn:
        files = prediction_files(conn, case_set, models)
    rows: dict[str, list[dict[str, Any]]] = {}
    unread: dict[str, list[str]] = {}
    for (model, case_id), uri in sorted(files.items()):
        if case_id not in by_id:
            continue
        case = by_id[case_id]
        try:
            values = signal(ws, case, uri)
        except DataError as exc:
            unread.setdefault(model, []).append(str(exc))
            continue
        rows.setdefault(model, []).append({
            "patient_id": case["patient_id"] or case_id, "site": case["site"], **values})
    notes += [f"{model}: {len(problems)} prediction(s) of {case_set} left out, unreadable "
              f"(first: {problems[0]})" for model, problems in unread.items()]
    return {model: pd.DataFrame(found) for model, found in rows.items()}


def _compare_signals(new: Mapping[str, pd.DataFrame],
                     old: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Per model: its signals on the new cases against its own on the test split."""
    tables = [feature_drift(old[m], new[m]).rename(columns={"feature": "signal"})
              .assign(model=m) for m in new if m in old]
    if not tables:
        return pd.DataFrame(columns=SIGNAL_COLUMNS)
    return pd.concat(tables, ignore_index=True)[SIGNAL_COLUMNS]


SIGNAL_COLUMNS = ["model", *(c if c != "feature" else "signal" for c in DRIFT_COLUMNS)]


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: json_number(v) for k, v in row.items()}
            for row in frame.astype(object).to_dict(orient="records")]
