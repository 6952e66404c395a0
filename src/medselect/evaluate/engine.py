"""The evaluation engine: every model on every case of a case set, each case read once.

Cases are read a batch at a time and every model predicts the batch before the next is read,
so a case is never loaded twice however many models there are. For each (model, case) the
engine writes the prediction file, the case's metric rows (when it has a label) and its overlay
(when asked). What a model cannot do for a case is recorded (``missing`` or ``error`` with a
message, NULL metric values for a labelled case, ranked worst) and the other cases go on.

Idempotence and atomicity: an evaluation's id derives from the model, the case set and its
content and the metric policy; a finished evaluation of the same id is reused unless ``force``.
Each model's rows are stored in one transaction once all its cases are done, so an interrupted
evaluation never looks finished (a forced recompute keeps the old finished results until then).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from medselect.config import TaskSpec
from medselect.data.loading import LoadedCase, load_case
from medselect.errors import ConfigError, DataError, EvaluationError, MedselectError, NotFound
from medselect.evaluate.artifacts import EvaluationFiles
from medselect.evaluate.ids import evaluation_id
from medselect.evaluate.policy import MetricPolicy
from medselect.evaluate.predictors import CaseFailure, Explained, Prediction, Predictor
from medselect.evaluate.results import EvaluationReport, ModelOutcome
from medselect.evaluate.scoring import (
    class_caption,
    has_reference,
    null_rows,
    predicted_points,
    score_case,
)
from medselect.store import (
    EvaluationStatus,
    Workspace,
    case_metric_table,
    case_set_members,
    get_evaluation,
    get_predictions,
    put_evaluation,
    replace_case_metrics,
    replace_predictions,
)

ProgressFn = Callable[[int, int], None]
"""Called with (done, total) (model, case) pairs as the evaluation advances."""

DEFAULT_CASES_PER_BATCH = 16
LISTED_CASE_ERRORS = 5


def evaluate_models(
    ws: Workspace,
    task: TaskSpec,
    predictors: Sequence[Predictor],
    case_set: Mapping[str, Any],
    policy: MetricPolicy,
    *,
    force: bool = False,
    overlays: bool = True,
    cases_per_batch: int = DEFAULT_CASES_PER_BATCH,
    on_progress: ProgressFn | None = None,
) -> EvaluationReport:
    """Evaluate ``predictors`` on every case of ``case_set``; return one outcome per model.

    Args:
        task: the task the models and cases belong to.
        case_set: the ``case_set`` row.
        force: recompute evaluations that are already finished.
        overlays: write an overlay and a thumbnail per (model, case).
        cases_per_batch: cases read and predicted together (memory: that many cases and
            their preprocessed inputs).
        on_progress: see :data:`ProgressFn`.

    Raises:
        ConfigError: ``cases_per_batch`` < 1.
        StoreError: the store refused a write (nothing of that model is kept).
    """
    if cases_per_batch < 1:
        raise ConfigError(f"cases_per_batch must be at least 1, got {cases_per_batch}")
    with ws.connect() as conn:
        members = case_set_members(conn, case_set["id"])
    outcomes: dict[str, ModelOutcome] = {}
    jobs: list[_Job] = []
    for predictor in predictors:
        eid = evaluation_id(predictor.model_ref, case_set, policy, predictor.fingerprint)
        stored = _stored(ws, eid)
        finished = stored is not None and stored["status"] == EvaluationStatus.FINISHED
        if finished and not force:
            outcomes[predictor.model_ref] = _reused(ws, stored, case_set, policy, len(members))
        else:
            jobs.append(_Job(predictor, EvaluationFiles(ws, eid), keeps_finished=finished))
    _register(ws, jobs, case_set, policy)
    try:
        ready = []
        for job in jobs:
            try:
                job.predictor.load()
                ready.append(job)
            except EvaluationError as exc:
                outcomes[job.model_ref] = _record_failure(ws, job, str(exc), members, policy)
        _run(ws, ready, members, policy, overlays, cases_per_batch, on_progress)
        for job in ready:
            outcomes[job.model_ref] = _record_finished(ws, job, policy, len(members))
    except BaseException:
        _abandon(ws, [job for job in jobs if job.model_ref not in outcomes])
        raise
    finally:
        for job in jobs:
            job.predictor.close()
    return EvaluationReport(
        task=task.name, case_set=case_set["id"], case_set_kind=case_set["kind"],
        n_cases=len(members), outcomes=[outcomes[p.model_ref] for p in predictors],
    )


@dataclass
class _Job:
    """One model's evaluation in progress: the rows it will store."""

    predictor: Predictor
    files: EvaluationFiles
    keeps_finished: bool  # a finished evaluation being recomputed: keep it until replaced
    metric_rows: list[dict[str, Any]] = field(default_factory=list)
    predictions: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def model_ref(self) -> str:
        return self.predictor.model_ref

    @property
    def evaluation_id(self) -> str:
        return self.files.evaluation_id

    def record(self, case: LoadedCase, prediction: Prediction, policy: MetricPolicy,
               overlays: bool) -> None:
        """Write the case's files and keep its rows; a failure is kept as the case's row."""
        labelled = has_reference(case, policy)
        if isinstance(prediction, CaseFailure):
            self.fail(case.case_id, labelled, prediction, policy)
            return
        saliency = None
        if isinstance(prediction, Explained):
            prediction, saliency = prediction.prediction, prediction.saliency
        title = f"{case.case_id} / {self.model_ref}"
        try:
            points = None
            if policy.predicts_points:
                points = predicted_points(prediction, case, policy.landmarks)
                uri = self.files.write_points(case, dict(zip(policy.landmarks, prediction,
                                                             strict=True)))
            elif policy.predicts_probabilities:
                uri = self.files.write_probabilities(case, prediction, policy.classes)
                title += f": {class_caption(prediction, case, policy.classes)}"
            else:
                uri = self.files.write_prediction(case, prediction)
            score = score_case(prediction, case, policy) if labelled else None
            overlay = thumb = None
            if overlays:
                dense = not (policy.predicts_points or policy.predicts_probabilities)
                overlay, thumb = self.files.write_overlay(
                    case, prediction if dense else None, policy.classes if dense else (),
                    title=title,
                    metrics=score.summary(policy) if score else None,
                    points=(score.ref_points, score.pred_points) if score else (None, points),
                    saliency=saliency)
        except (MedselectError, ValueError, OSError) as exc:
            message = f"case {case.case_id!r}: {type(exc).__name__}: {exc}".splitlines()[0]
            self.fail(case.case_id, labelled, CaseFailure("error", message), policy)
            return
        if score is not None:
            self.metric_rows += score.rows(case.case_id)
        self.predictions.append({"case_id": case.case_id, "status": "ok", "prediction_uri": uri,
                                 "overlay_uri": overlay, "thumbnail_uri": thumb})

    def fail(self, case_id: str, labelled: bool, failure: CaseFailure,
             policy: MetricPolicy) -> None:
        if labelled:
            self.metric_rows += null_rows(case_id, policy)
        self.predictions.append({"case_id": case_id, "status": failure.status,
                                 "error": failure.message})


def _run(ws: Workspace, jobs: list[_Job], members: list[dict[str, Any]], policy: MetricPolicy,
         overlays: bool, cases_per_batch: int, on_progress: ProgressFn | None) -> None:
    total, done = len(members) * len(jobs), 0
    if on_progress:
        on_progress(done, total)
    if not jobs:
        return
    for start in range(0, len(members), cases_per_batch):
        rows = members[start:start + cases_per_batch]
        cases, unreadable = _read_cases(ws, rows)
        shared: dict = {}
        for job in jobs:
            began = time.perf_counter()
            for row, message in unreadable:
                job.fail(row["case_id"], row["label_uri"] is not None,
                         CaseFailure("error", message), policy)
            predictions = job.predictor.predict(cases, shared) if cases else []
            for case, prediction in zip(cases, predictions, strict=True):
                job.record(case, prediction, policy, overlays)
            job.seconds += time.perf_counter() - began
            done += len(rows)
            if on_progress:
                on_progress(done, total)


def _read_cases(
    ws: Workspace, rows: list[dict[str, Any]]
) -> tuple[list[LoadedCase], list[tuple[dict[str, Any], str]]]:
    """The readable cases, and (row, message) for each case that cannot be read."""
    cases, unreadable = [], []
    for row in rows:
        try:
            cases.append(load_case(row, ws.path))
        except DataError as exc:
            unreadable.append((row, f"{exc}; check the case's files in the workspace"))
    return cases, unreadable


def _stored(ws: Workspace, eid: str) -> dict[str, Any] | None:
    with ws.connect() as conn:
        try:
            return get_evaluation(conn, eid)
        except NotFound:
            return None


def _register(ws: Workspace, jobs: list[_Job], case_set: Mapping[str, Any],
              policy: MetricPolicy) -> None:
    """Create (or mark running) every evaluation to compute, in one transaction."""
    if not jobs:
        return
    with ws.begin() as conn:
        for job in jobs:
            row = {"id": job.evaluation_id, "model_ref": job.model_ref, "case_set": case_set["id"],
                   "dataset_version": case_set["dataset_version"],
                   "metric_policy": policy.as_dict()}
            if not job.keeps_finished:
                row["status"] = EvaluationStatus.RUNNING
            put_evaluation(conn, row)


def _record_finished(ws: Workspace, job: _Job, policy: MetricPolicy,
                     n_cases: int) -> ModelOutcome:
    with ws.begin() as conn:
        put_evaluation(conn, {"id": job.evaluation_id, "status": EvaluationStatus.FINISHED,
                              "duration_s": job.seconds, "metric_policy": policy.as_dict()})
        replace_case_metrics(conn, job.evaluation_id, job.metric_rows)
        replace_predictions(conn, job.evaluation_id, job.predictions)
    key = [r["value"] for r in job.metric_rows
           if r["metric"] == policy.key_metric and r["label"] == policy.key_label]
    return _outcome(job.model_ref, job.evaluation_id, "finished", job.files.folder, n_cases,
                    job.predictions, policy.key_metric, key, duration_s=job.seconds)


def _record_failure(ws: Workspace, job: _Job, message: str, members: list[dict[str, Any]],
                    policy: MetricPolicy) -> ModelOutcome:
    """The model cannot be used at all: every case gets its message; status failed."""
    predictions = [{"case_id": m["case_id"], "status": "error", "error": message}
                   for m in members]
    with ws.begin() as conn:
        put_evaluation(conn, {"id": job.evaluation_id, "status": EvaluationStatus.FAILED})
        replace_case_metrics(conn, job.evaluation_id, [])
        replace_predictions(conn, job.evaluation_id, predictions)
    return _outcome(job.model_ref, job.evaluation_id, "failed", job.files.folder, len(members),
                    predictions, policy.key_metric, [], error=message)


def _abandon(ws: Workspace, jobs: list[_Job]) -> None:
    """After an interruption: evaluations marked running are failed, finished ones kept."""
    marked = [job for job in jobs if not job.keeps_finished]
    if marked:
        with ws.begin() as conn:
            for job in marked:
                put_evaluation(conn, {"id": job.evaluation_id, "status": EvaluationStatus.FAILED})


def _reused(ws: Workspace, stored: Mapping[str, Any], case_set: Mapping[str, Any],
            policy: MetricPolicy, n_cases: int) -> ModelOutcome:
    with ws.connect() as conn:
        predictions = get_predictions(conn, stored["id"])
        table = case_metric_table(conn, case_set=case_set["id"], model_refs=[stored["model_ref"]],
                                  metrics=[policy.key_metric], labels=[policy.key_label])
    folder = EvaluationFiles(ws, stored["id"]).folder
    return _outcome(stored["model_ref"], stored["id"], "reused", folder, n_cases, predictions,
                    policy.key_metric, table["value"].tolist())


def _outcome(model_ref: str, eid: str, status: str, folder: str, n_cases: int,
             predictions: list[Mapping[str, Any]], key_metric: str,
             key_values: list[float | None], *, duration_s: float | None = None,
             error: str | None = None) -> ModelOutcome:
    count = {s: sum(p["status"] == s for p in predictions) for s in ("ok", "missing", "error")}
    values = [v for v in key_values if v is not None and not math.isnan(v)]
    messages = [] if error else [p["error"] for p in predictions
                                 if p["status"] != "ok" and p.get("error")]
    return ModelOutcome(
        model_ref=model_ref, evaluation_id=eid, status=status, n_cases=n_cases,  # type: ignore[arg-type]
        n_ok=count["ok"], n_missing=count["missing"], n_errors=count["error"],
        key_metric=key_metric, key_value=sum(values) / len(values) if values else None,
        folder=folder, error=error, case_errors=messages[:LISTED_CASE_ERRORS],
        duration_s=duration_s,
    )
