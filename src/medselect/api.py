"""One Python face for notebooks and scripts: the workflows the CLI runs, as functions.

Each function takes a workspace (or a plain per-case table) and returns the same result objects
the CLI prints, so a notebook user can work without the CLI and get the same answers::

    import medselect as ms

    ws = ms.open_workspace("medselect-workspace", create=True)
    ms.import_data(ws, "Dataset001_Knee", classes=["background", "femur"],
                   patients=r"(?P<patient>.+)_z\\d+")
    ms.run_sweep(ws, "experiment.yaml")
    ms.evaluate_models(ws, "experiment.yaml")
    choice = ms.choose_model(ws)                 # selection set chooses, test set confirms
    table = ms.case_table(ws)                    # the per-case table, as pandas
    report = ms.rank(table, "dice")              # any table with the contract's columns
    ms.promote(ws, choice.chosen)
    ms.predict(ws, "lyon/imagesTs", "lyon/predictions", site="lyon")  # by the site's champion
    ms.export_models(ws, ["global", "site:lyon"], "monai-bundle", "export/")
    card = ms.model_card(ws, scope="site:lyon")  # what it is for, how it does, where it fails

The functions import what they need when called, so ``import medselect`` stays light.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from medselect.choose import ModelChoice
    from medselect.config import Experiment, RankingSpec, TaskSpec
    from medselect.data.importer import ImportResult
    from medselect.data.intake import Intake
    from medselect.deploy import ExportReport, PredictionReport
    from medselect.evaluate import CaseSetReports
    from medselect.rank import RankReport, Selection
    from medselect.registry import ModelCard, PromotionOutcome
    from medselect.store import Workspace
    from medselect.sweep import SweepPlan, SweepSnapshot
    from medselect.sweep.population import PopulationPlan
    from medselect.sweep.trials import StudyPlan

__all__ = ["case_table", "choose_model", "evaluate_models", "export_models", "import_data",
           "model_card", "open_workspace", "predict", "promote", "rank", "run_sweep",
           "select_by_site"]

PathLike = str | os.PathLike[str]


def open_workspace(path: PathLike, *, db_url: str | None = None,
                   create: bool = False) -> Workspace:
    """The workspace at ``path`` (made first with ``create``); the database as
    :func:`medselect.store.database_url` finds it, or ``db_url``.

    Raises:
        StoreError: no workspace there (without ``create``), or its database is unusable.
    """
    from medselect.store import Workspace

    return (Workspace.create if create else Workspace.open)(path, db_url)


def import_data(
    ws: Workspace,
    source: PathLike,
    *,
    task: str | None = None,
    kind: str = "segmentation",
    classes: Sequence[str] | None = None,
    spatial_dims: int | None = None,
    patients: str | None = None,
    case_info: PathLike | None = None,
    site: str | None = None,
    split: Mapping[str, float] | None = None,
    seed: int = 0,
    held_out_sites: Sequence[str] = (),
) -> ImportResult:
    """Import a manifest, an nnU-Net folder or a Decathlon/MONAI datalist as a new dataset
    version, exactly as ``medselect data import`` does (its options, by the same names).

    Args:
        task: the task's name (default: from the source's file or folder name).
        patients: a pattern on the case id naming the patient (and site), e.g.
            ``(?P<patient>.+)_z\\d+`` (:class:`~medselect.data.caseinfo.CaseInfo`).
        case_info: a CSV of case_id, patient_id, site and attributes.
        site: the site of cases whose source names none.
        split: patient fractions, e.g. ``{"train": 0.7, "val": 0.1, "test": 0.2}``; a split not
            named gets none.
        held_out_sites: sites no model trains on (external validation): their patients go to
            val and test only, as ``data.split.held_out_sites`` in an experiment.

    Raises:
        DatasetInvalid: every problem of the source (nothing is stored).
        LeakageError, DataError, ConfigError: as ``data import``.
    """
    from medselect.config import SplitSpec
    from medselect.data.importer import import_dataset

    intake = take_in_source(ws, source, task=task, kind=kind, classes=classes,
                            spatial_dims=spatial_dims, patients=patients, case_info=case_info,
                            site=site)
    read = intake.source
    result = import_dataset(
        ws, intake.task, intake.records, split=SplitSpec.of(split, seed, held_out_sites),
        problems=intake.problems, source=read.describe() if read else {"path": str(source)},
        description=f"{read.kind} {read.path.name}" if read else "")
    return result.with_notes(intake.notes)


def take_in_source(
    ws: Workspace | None,
    source: PathLike,
    *,
    task: str | None = None,
    kind: str = "segmentation",
    classes: Sequence[str] | None = None,
    spatial_dims: int | None = None,
    patients: str | None = None,
    case_info: PathLike | None = None,
    site: str | None = None,
) -> Intake:
    """``source`` read and mapped to patients and sites, with the task it is checked against
    (the stored one in ``ws``, else one the options define): what :func:`import_data` and
    ``medselect data check`` start from, so they agree (:mod:`medselect.data.intake`)."""
    from medselect.data.caseinfo import CaseInfo
    from medselect.data.intake import TaskOptions, take_in
    from medselect.data.tasks import stored_task

    name = task or source_task_name(Path(source))
    stored = None
    if ws is not None:
        with ws.connect() as conn:
            stored = stored_task(conn, name)
    return take_in(source, TaskOptions(name, kind, classes, spatial_dims),
                   CaseInfo.of(patients=patients, case_info=case_info, site=site), stored)


def source_task_name(path: Path) -> str:
    """A task name from a source's file or folder name (``Dataset001_Knee`` ->
    ``dataset001_knee``)."""
    name = path.stem if path.is_file() else path.name
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name.lower()) or "task"


def run_sweep(
    ws: Workspace,
    experiment: PathLike | Experiment,
    *,
    executor: str = "local",
    workers: int | None = None,
    threads: int | None = None,
    address: str | None = None,
    retry_failed: bool = False,
    on_plan: Callable[[SweepPlan | StudyPlan | PopulationPlan, ImportResult], None] | None = None,
    on_progress: Callable[[SweepSnapshot], None] | None = None,
) -> SweepSnapshot:
    """Import the experiment's data, plan its sweep and train what is not finished (with
    strategy ``optuna``: the study's trials until its budget is spent).

    Args:
        executor: ``local`` processes, ``ray`` or ``inprocess``; ``workers`` and ``threads``
            default to the experiment's ``sweep.workers`` and ``threads_per_worker``.
        on_plan: called once with the plan (a study's, for ``optuna``) and the data import,
            before training.
        on_progress: called with the sweep's state while it trains.

    Raises:
        ConfigError: a bad executor or experiment; the data import's errors.
    """
    from medselect.data.importer import import_experiment_data
    from medselect.sweep import plan_sweep
    from medselect.sweep import run_sweep as train

    loaded = _experiment(experiment)
    data = import_experiment_data(ws, loaded)
    plan = plan_sweep(ws, loaded, data.version_id, retry_failed=retry_failed)
    if on_plan is not None:
        on_plan(plan, data)
    chosen = make_sweep_executor(loaded, executor, workers=workers, threads=threads,
                                 address=address)
    return train(ws, plan, chosen, on_progress=on_progress)


def make_sweep_executor(experiment: Experiment, executor: str, *, workers: int | None = None,
                        threads: int | None = None, address: str | None = None):
    """The executor named ``executor`` with the experiment's workers, threads (the CPUs shared
    between the workers) and GPUs per run as defaults.

    Raises:
        ConfigError: ``executor`` is not one medselect has.
    """
    from medselect.errors import ConfigError
    from medselect.sweep import make_executor

    workers = workers or experiment.sweep.workers
    threads = (threads or experiment.sweep.threads_per_worker
               or max(1, (os.cpu_count() or 1) // workers))
    try:
        return make_executor(executor, workers=workers, threads=threads, address=address,
                             gpus_per_run=experiment.sweep.gpus_per_run,
                             runs_per_gpu=experiment.sweep.runs_per_gpu)
    except ValueError as exc:
        raise ConfigError(f"executor: {exc}") from None


def evaluate_models(
    ws: Workspace,
    experiment: PathLike | Experiment | None = None,
    *,
    task: str | None = None,
    case_sets: Sequence[str] | None = None,
    runs: Sequence[str] | None = None,
    predictions: PathLike | None = None,
    name: str | None = None,
    force: bool = False,
    device: str | None = None,
    include_pruned: bool = False,
) -> CaseSetReports:
    """Evaluate the task's finished runs (or a folder of external ``predictions``) on case
    sets: by default every set the experiment's ``evaluation.case_sets`` lists (val, test).

    Args:
        case_sets: names (``val``, ``test``, ``reference``, ``train``/``all`` for external
            predictions), case set ids, or paths of new cases.
        include_pruned: without ``runs``, also the runs an Optuna pruner stopped.

    Raises:
        NotFound, DataError, EvaluationError: as ``medselect evaluate``.
    """
    from medselect.evaluate import evaluate_external_on_sets, evaluate_runs_on_sets

    loaded = _experiment(experiment) if experiment is not None else None
    options: dict[str, Any] = {
        "task": loaded.task if loaded else task, "spec": loaded.evaluation if loaded else None,
        "case_sets": list(case_sets) if case_sets else None, "force": force}
    if predictions is not None:
        return evaluate_external_on_sets(ws, predictions, name or Path(predictions).name,
                                         **options)
    if include_pruned and not runs:
        runs = models_with_pruned(ws, options["task"])
    return evaluate_runs_on_sets(ws, runs=list(runs) if runs else None, device=device,
                                 **options)


def models_with_pruned(ws: Workspace, task: TaskSpec | str | None = None) -> list[str]:
    """The runs ``evaluate`` takes by default (finished, fold runs left out) and the runs an
    Optuna pruner stopped, which it takes only when asked (``--include-pruned``)."""
    from medselect.evaluate import models_to_evaluate
    from medselect.store import RunStatus, list_runs

    with ws.connect() as conn:
        name = getattr(task, "name", task) or _task_name(conn, None)
        return [r["id"] for r in models_to_evaluate(conn, name)
                + list_runs(conn, task=name, status=RunStatus.PRUNED)]


def case_table(ws: Workspace, task: str | None = None, *, case_set: str | None = None,
               models: Sequence[str] | None = None,
               metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """The per-case table of a case set (default: the task's confirmation set), one row per
    model x case x metric x label, with each case's patient, site and attributes: the table
    :func:`rank` and a statistician take."""
    from medselect.data import export_case_metrics

    with ws.connect() as conn:
        return export_case_metrics(conn, _task_name(conn, task), case_set=case_set,
                                   models=models, metrics=metrics)


def rank(table: pd.DataFrame, metric: str | None = None, *,
         ranking: RankingSpec | Mapping[str, Any] | None = None, **options: Any) -> RankReport:
    """Rank the models of any per-case table (:func:`medselect.rank.rank_cases`; calling the
    package, ``medselect.rank(table, "dice")``, does the same)."""
    from medselect.rank import rank_cases

    return rank_cases(table, metric, ranking=ranking, **options)


def select_by_site(table: pd.DataFrame, metric: str | None = None, *,
                   ranking: RankingSpec | Mapping[str, Any] | None = None,
                   **options: Any) -> Selection:
    """The best model per site of a per-case table, with the runner-up, the margin and its
    evidence (:func:`rank` with ``by=["site"]``)."""
    report = rank(table, metric, ranking=ranking, **{**options, "by": ["site"]})
    return report.selections["site"]


def choose_model(ws: Workspace, task: str | None = None, *,
           ranking: RankingSpec | Mapping[str, Any] | None = None,
           selection: str | None = None, confirmation: str | None = None) -> ModelChoice:
    """Choose a model on the selection set and confirm it on the test set, with the task's
    stored ranking rules (or ``ranking``), as ``medselect rank`` does."""
    from medselect import choose
    from medselect.config import RankingSpec

    with ws.connect() as conn:
        name = _task_name(conn, task)
        spec = choose.task_ranking(conn, name) if ranking is None else \
            RankingSpec.model_validate(_as_dict(ranking))
        return choose.choose_model(conn, name, spec, selection=selection,
                                   confirmation=confirmation)


def promote(ws: Workspace, run: str, *, scope: str = "global",
            experiment: PathLike | Experiment | None = None, actor: str | None = None,
            force_reason: str | None = None, device: str | None = None) -> PromotionOutcome:
    """Promote ``run`` through the gate on the frozen reference set, as ``medselect
    promote`` does (its ``promotion:`` criteria from ``experiment``, else the defaults).

    Raises:
        RegistryError: the run cannot be promoted, or the registry changed meanwhile.
    """
    from medselect.registry import promote_through_gate, promotion_inputs
    from medselect.registry.retrain import ranking_spec

    loaded = _experiment(experiment) if experiment is not None else None
    task, criteria, spec = promotion_inputs(ws, run, loaded)
    return promote_through_gate(
        ws, task, scope, run, criteria, actor=actor or getpass.getuser(), spec=spec,
        ranking=None if loaded is None else ranking_spec(loaded), force_reason=force_reason,
        device=device)


def predict(ws: Workspace, cases: PathLike, out: PathLike, *, task: str | None = None,
            scope: str = "auto", site: str | None = None, patients: str | None = None,
            case_info: PathLike | None = None, device: str | None = None,
            sliding_window: bool = False, seg_format: str = "auto") -> PredictionReport:
    """Predict new cases with the champions, each case by its site's champion (else the global
    one), as ``medselect predict`` does: files in the input's geometry and ``predictions.json``
    in ``out``.

    Args:
        cases: any layout ``medselect evaluate --cases`` takes.
        scope: ``auto``, ``global`` or ``site:NAME``.
        site, patients, case_info: who the cases belong to
            (:class:`~medselect.data.caseinfo.CaseInfo`).
        seg_format: label maps as ``auto`` (a DICOM SEG for a DICOM series, else the input's
            format), ``nifti`` or ``dicom-seg``.

    Raises:
        RegistryError: a scope that must answer has no champion (``medselect promote``).
        DataError: the cases cannot be read.
    """
    from medselect.data.caseinfo import CaseInfo
    from medselect.deploy import predict_cases
    from medselect.evaluate import NewCases

    new = NewCases(Path(cases), info=CaseInfo.of(patients=patients, case_info=case_info,
                                                 site=site))
    return predict_cases(ws, new, out, task=task, scope=scope, device=device,
                         sliding_window=sliding_window, seg_format=seg_format)


def export_models(ws: Workspace, scopes: Sequence[str], fmt: str, out: PathLike, *,
                  task: str | None = None) -> ExportReport:
    """Export the champion of each scope as ``fmt`` (``monai-bundle``, ``onnx``,
    ``torchscript``) into ``out``, as ``medselect export`` does: one folder per scope, each
    export checked against PyTorch, and ``routing.json`` for several scopes.

    Raises:
        RegistryError: a scope has no champion; ExportError: the export failed its check.
    """
    from medselect.deploy import export_champions

    return export_champions(ws, scopes, fmt, out, task=task)


def model_card(ws: Workspace, task: str | None = None, *, scope: str = "global",
               version: int | None = None) -> ModelCard:
    """The model card of a scope's champion (or of ``version``), as ``medselect card`` writes
    it: intended use, training configuration, figures per site with intervals and patients,
    the gate decision, worst cases and known limits
    (:func:`medselect.registry.render_card_html` renders it).

    Raises:
        RegistryError: the scope has no champion, or no such version.
    """
    from medselect.registry import model_card as card_of

    with ws.connect() as conn:
        return card_of(conn, _task_name(conn, task), scope, version)


def _experiment(experiment: PathLike | Experiment) -> Experiment:
    from medselect.config import Experiment, load_experiment

    return experiment if isinstance(experiment, Experiment) else load_experiment(experiment)


def _task_name(conn, task: str | None) -> str:
    from medselect.data.tasks import only_task

    return task or only_task(conn)


def _as_dict(ranking: RankingSpec | Mapping[str, Any] | None) -> dict[str, Any]:
    if ranking is None:
        return {}
    return dict(ranking) if isinstance(ranking, Mapping) else ranking.model_dump()
