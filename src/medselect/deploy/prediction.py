"""Predict new cases with the registry's champions: each case by its site's champion.

:func:`predict_cases` reads a case set in any layout ``medselect evaluate --cases`` takes
(:func:`~medselect.evaluate.read_new_cases`, with patients and sites from a
:class:`~medselect.data.caseinfo.CaseInfo`), routes every case to a champion
(:func:`~medselect.registry.routing.champion_routes`: its site's, else the global one, said per
case), runs each champion once over its cases in batches, exactly as ``medselect evaluate``
runs a model (:class:`~medselect.evaluate.TrainedPredictor`), and writes the files of
:mod:`~medselect.deploy.outputs` and ``predictions.json``: per case its file, the model, its
registry version and scope, and the evidence that made it champion. Nothing is written to the
workspace: prediction is the field's use of a model, not an evaluation.

Example::

    report = predict_cases(ws, NewCases(Path("lyon/imagesTs"), info=CaseInfo.of(site="lyon")),
                           Path("lyon/predictions"))
    [(c.case_id, c.scope, c.fallback) for c in report.cases]
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from medselect.config import TaskSpec
from medselect.data.case import CaseRecord
from medselect.data.loading import LoadedCase, load_case
from medselect.deploy.dicomseg import Algorithm
from medselect.deploy.outputs import PredictionFiles, SegFormat
from medselect.errors import DataError, EvaluationError, MedselectError
from medselect.evaluate import (
    DEFAULT_CASES_PER_BATCH,
    CaseFailure,
    NewCases,
    TrainedPredictor,
    load_task,
    read_new_cases,
)
from medselect.evaluate.workflow import check_sliding_window
from medselect.registry.routing import AUTO_SCOPE, Route, champion_routes, trained_run
from medselect.store import Workspace, atomic_write_text, utcnow

__all__ = ["PREDICTIONS_FILE", "CasePrediction", "PredictionReport", "predict_cases"]

PREDICTIONS_FILE = "predictions.json"

ProgressFn = Callable[[int, int], None]
"""Called with (done, total) cases as the prediction advances."""


@dataclass(frozen=True)
class CasePrediction:
    """One case's prediction and where it came from.

    Attributes:
        file: the prediction's file name in the output folder (None when it failed).
        evidence: the champion's registry row and gate decision
            (:func:`~medselect.registry.routing.evidence_id`).
        fallback: why the global champion predicted a case instead of its site's (None when
            the case's own scope answered).
        error: why there is no prediction (names the case and what to do).
    """

    case_id: str
    patient_id: str
    site: str
    status: Literal["ok", "error"]
    model_ref: str
    scope: str
    version: int
    evidence: Mapping[str, Any]
    fallback: str | None = None
    file: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "evidence": dict(self.evidence)}


@dataclass(frozen=True)
class PredictionReport:
    """Every case's prediction, in the order the cases were read.

    Attributes:
        scope: what was asked: ``auto``, ``global`` or ``site:NAME``.
        table: the file of all cases' predictions (landmarks, classification), if any.
        seconds: wall time of reading, predicting and writing.
    """

    task: str
    scope: str
    source: str
    folder: Path
    cases: tuple[CasePrediction, ...]
    table: str | None
    seconds: float

    @property
    def failed(self) -> tuple[CasePrediction, ...]:
        return tuple(c for c in self.cases if c.status != "ok")

    def to_dict(self) -> dict[str, Any]:
        models: dict[str, dict[str, Any]] = {}
        for c in self.cases:
            entry = models.setdefault(f"{c.scope} v{c.version}", {
                "model_ref": c.model_ref, "scope": c.scope, "version": c.version,
                "evidence": dict(c.evidence), "n_cases": 0})
            entry["n_cases"] += 1
        return {"task": self.task, "scope": self.scope, "source": self.source,
                "folder": str(self.folder), "n_cases": len(self.cases),
                "n_failed": len(self.failed), "table": self.table, "seconds": self.seconds,
                "models": list(models.values()), "cases": [c.to_dict() for c in self.cases]}


def predict_cases(
    ws: Workspace,
    cases: NewCases | str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    task: TaskSpec | str | None = None,
    scope: str = AUTO_SCOPE,
    device: str | None = None,
    sliding_window: bool = False,
    cases_per_batch: int = DEFAULT_CASES_PER_BATCH,
    on_progress: ProgressFn | None = None,
    seg_format: SegFormat | str = SegFormat.AUTO,
) -> PredictionReport:
    """Predict every case of ``cases`` with its champion; write the files and
    ``predictions.json`` into ``out``.

    Args:
        cases: a manifest, an nnU-Net folder or its ``imagesTs/``, a folder of images, or
            :class:`~medselect.evaluate.NewCases` (with patients and sites).
        task: the task (default: the workspace's only task).
        scope: ``auto`` (each case's site champion, else the global one), ``global`` or
            ``site:NAME`` (that champion for every case).
        device, sliding_window: as for ``medselect evaluate``.
        seg_format: how label maps are written (:class:`~medselect.deploy.outputs.SegFormat`): by
            default a DICOM SEG for a case whose image is a DICOM series folder, PNG for a PNG,
            else NIfTI.

    A case the model cannot take (channels, dimensions, an unreadable file) is recorded with
    its message and the other cases go on; ``PredictionReport.failed`` lists them.

    Raises:
        DataError: nothing readable as cases at ``cases``, or the case information does not fit.
        RegistryError: a scope that must answer has no champion, or a champion is a model
            made elsewhere (it has no network to run).
        ConfigError: a bad device, ``sliding_window`` for an image-level task, an unknown
            ``seg_format``, or DICOM SEG to write without highdicom.
    """
    began = time.perf_counter()
    spec = task if isinstance(task, TaskSpec) else load_task(ws, task)
    if sliding_window:
        check_sliding_window(spec)
    new = cases if isinstance(cases, NewCases) else NewCases(Path(cases))
    if not new.path.exists():
        raise DataError(f"{new.path}: no such file or folder of cases to predict")
    records = new.info.apply(read_new_cases(new.path))
    seg_format = SegFormat.of(seg_format, spec, [r.images[0] for r in records])
    with ws.connect() as conn:
        routes = champion_routes(conn, spec.name, {r.site for r in records}, scope)
        versions = {r.version.model_ref: r.version for r in routes.values()}
        runs = {ref: trained_run(conn, version) for ref, version in versions.items()}
    files = PredictionFiles(Path(out), spec, seg_format)
    results: dict[str, CasePrediction] = {}
    for ref, run in runs.items():
        own = [r for r in records if routes[r.site].version.model_ref == ref]
        predictor = TrainedPredictor(ws, run, spec, device=device, sliding_window=sliding_window)
        for result in _predicted(predictor, own, routes, files, cases_per_batch):
            results[result.case_id] = result
            if on_progress is not None:
                on_progress(len(results), len(records))
    report = PredictionReport(task=spec.name, scope=scope, source=str(new.path),
                              folder=Path(out), cases=tuple(results[r.case_id] for r in records),
                              table=files.finish(), seconds=time.perf_counter() - began)
    text = json.dumps({"created_at": utcnow().isoformat(), **report.to_dict()}, indent=1)
    atomic_write_text(Path(out) / PREDICTIONS_FILE, text + "\n")
    return report


def _predicted(predictor: TrainedPredictor, records: Sequence[CaseRecord],
               routes: Mapping[str, Route], files: PredictionFiles,
               cases_per_batch: int) -> Iterator[CasePrediction]:
    """The prediction of each record by one champion, a batch of cases read at a time."""
    try:
        predictor.load()
    except EvaluationError as exc:
        for record in records:
            yield _outcome(record, routes[record.site], error=str(exc))
        return
    try:
        for start in range(0, len(records), cases_per_batch):
            batch = records[start:start + cases_per_batch]
            cases, unreadable = _read(batch)
            predicted = dict(zip([c.case_id for c in cases],
                                 zip(cases, predictor.predict(cases, {}) if cases else [],
                                     strict=True), strict=True))
            for record in batch:
                route = routes[record.site]
                if record.case_id in unreadable:
                    yield _outcome(record, route, error=unreadable[record.case_id])
                    continue
                case, prediction = predicted[record.case_id]
                if isinstance(prediction, CaseFailure):
                    yield _outcome(record, route, error=prediction.message)
                    continue
                algorithm = Algorithm(route.version.model_ref,
                                      f"{route.scope} v{route.version.version}")
                try:
                    file = files.write(case, prediction, record.images[0], algorithm)
                except (MedselectError, OSError, ValueError) as exc:
                    yield _outcome(record, route, error=f"case {record.case_id!r}: the "
                                   f"prediction could not be written ({exc})")
                else:
                    yield _outcome(record, route, file=file)
    finally:
        predictor.close()


def _read(records: Sequence[CaseRecord]) -> tuple[list[LoadedCase], dict[str, str]]:
    """The readable cases, and case id -> message for each case that cannot be read."""
    cases, unreadable = [], {}
    for record in records:
        row = {"case_id": record.case_id, "image_uris": list(record.images),
               "site": record.site, "attributes": record.attributes}
        try:
            cases.append(load_case(row, Path))
        except DataError as exc:
            unreadable[record.case_id] = f"{exc}; check the case's image files"
    return cases, unreadable


def _outcome(record: CaseRecord, route: Route, *, file: str | None = None,
             error: str | None = None) -> CasePrediction:
    return CasePrediction(
        case_id=record.case_id, patient_id=record.patient_id, site=record.site,
        status="ok" if error is None else "error", model_ref=route.version.model_ref,
        scope=route.scope, version=route.version.version, evidence=route.evidence,
        fallback=route.fallback, file=file, error=error)
