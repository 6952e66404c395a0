"""``medselect evaluate``: every model on every case of each case set, with a progress bar.

Without ``--cases`` the sets the experiment's ``evaluation.case_sets`` lists are evaluated in
order (by default ``val``, which selects the model, then ``test``, which confirms it).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from medselect.cli.context import CLIContext, abort
from medselect.cli.options import (
    DEFAULT_WORKSPACE,
    CaseInfoOpt,
    JsonOpt,
    PatientsOpt,
    SiteOpt,
    WorkspaceOpt,
)

if TYPE_CHECKING:
    from medselect.config import RankingSpec
    from medselect.evaluate import CaseSetReports, EvaluationReport, ProgressFn

ExperimentArg = Annotated[
    Path | None,
    typer.Argument(help="Experiment YAML (task and evaluation section). Default: the task's "
                        "stored spec and default metrics."),
]


def evaluate(
    ctx: typer.Context,
    experiment: ExperimentArg = None,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    runs: Annotated[
        list[str] | None,
        typer.Option("--runs", help="Run ids to evaluate (repeat, or separate with commas). "
                                    "Default: every finished run."),
    ] = None,
    top: Annotated[
        int | None, typer.Option(min=1, help="Only the K runs with the best validation score.")
    ] = None,
    include_pruned: Annotated[
        bool, typer.Option("--include-pruned", help="Also the runs an Optuna pruner stopped "
                                                    "early (left out by default).")
    ] = False,
    cases: Annotated[
        str | None,
        typer.Option("--cases", help="Evaluate only this case set: val | test | reference | "
                                     "train | all (train and all: --predictions only) | a "
                                     "case set id | PATH of new cases (manifest, nnU-Net "
                                     "folder or its imagesTs/, folder of images). Default: "
                                     "every set evaluation.case_sets lists (val, test)."),
    ] = None,
    labels: Annotated[
        Path | None,
        typer.Option("--labels", help="Labels of a --cases folder of images: a folder of "
                                      "<case_id>.nii.gz / .png (imagesTs/ finds labelsTs/ "
                                      "without it)."),
    ] = None,
    site: SiteOpt = None,
    patients: PatientsOpt = None,
    case_info: CaseInfoOpt = None,
    predictions: Annotated[
        Path | None,
        typer.Option("--predictions", help="Folder of prediction masks made elsewhere "
                                           "(<case_id>.nii.gz / .png), evaluated as a model."),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option("--name", help="Name of the --predictions model (default: folder name)."),
    ] = None,
    task: Annotated[
        str | None, typer.Option("--task", help="Task name (default: the workspace's only task).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Recompute evaluations already finished.")
    ] = False,
    overlays: Annotated[
        bool | None,
        typer.Option("--overlays/--no-overlays", help="Write overlay images (default: on)."),
    ] = None,
    device: Annotated[
        str | None, typer.Option(help="cpu | cuda | cuda:N (default: CUDA when present).")
    ] = None,
    sliding_window: Annotated[
        bool,
        typer.Option("--sliding-window", help="Predict cases larger than a run's input size "
                                              "with sliding windows instead of resizing."),
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Evaluate models on case sets: per-case metrics, prediction files and overlays.

    Without --cases: every set of evaluation.case_sets (default val, which selects the model,
    then test, which confirms it; a val set the data lacks is skipped with a note). Finished
    evaluations are reused; --force recomputes them. Runs are never scored on cases they
    trained on (train, all, or new cases in the training data); --predictions may be.
    """
    from medselect.api import models_with_pruned
    from medselect.config import load_experiment
    from medselect.data.caseinfo import CaseInfo
    from medselect.evaluate import (
        NewCases,
        evaluate_external_on_sets,
        evaluate_folds,
        evaluate_runs_on_sets,
        load_task,
    )
    from medselect.evaluate.workflow import check_sliding_window
    from medselect.store import Workspace

    cli: CLIContext = ctx.obj
    run_ids = [r.strip() for value in runs or () for r in value.split(",") if r.strip()]
    if predictions is None and name is not None:
        abort("--name names the model of --predictions; give --predictions FOLDER too")
    if predictions is not None and (run_ids or top is not None or include_pruned):
        abort("--predictions evaluates one folder of predictions; leave out --runs, --top and "
              "--include-pruned (evaluate runs in a separate call)")
    described = [option for option, value in (("--labels", labels), ("--site", site),
                                              ("--patients", patients),
                                              ("--case-info", case_info)) if value is not None]
    if described and cases is None:
        abort(f"{', '.join(described)}: these describe new cases; give --cases PATH too")
    case_set = cases if not described else NewCases(
        Path(cases), labels=labels,
        info=CaseInfo.of(patients=patients, case_info=case_info, site=site))
    spec = task_spec = ranking = selection = None
    if experiment is not None:
        loaded = load_experiment(experiment)
        spec, task_spec, ranking = loaded.evaluation, loaded.task, loaded.ranking
        if ranking.selection.folds and predictions is None and not run_ids:
            selection = ranking.selection
        if task is not None and task != task_spec.name:
            abort(f"--task {task!r} differs from the experiment's task {task_spec.name!r}; "
                  f"leave out --task")
    ws = Workspace.open(workspace)
    if sliding_window and predictions is None:  # refused before the progress bar starts
        task_spec = task_spec or load_task(ws, task)
        check_sliding_window(task_spec)
    options = {"task": task_spec or task, "case_sets": None if cases is None else [case_set],
               "spec": spec, "force": force, "overlays": overlays}
    if selection is not None and cases is None:  # val is cross-validated with train
        options["case_sets"] = [c for c in spec.case_sets if c != "val"] or None
    fold_reports: list[EvaluationReport] = []
    result = None
    try:
        with evaluation_progress(cli, quiet=json_) as on_progress:
            if selection is not None:  # cross-validation: each fold run on its held-out fold
                fold_reports = evaluate_folds(ws, task_spec, selection, spec=spec, force=force,
                                              overlays=overlays, device=device,
                                              on_progress=on_progress)
            if predictions is not None:
                result = evaluate_external_on_sets(
                    ws, predictions, name or predictions.resolve().name,
                    on_progress=on_progress, **options)
            elif selection is None or _has_models(ws, task_spec.name):
                if include_pruned and not run_ids:
                    run_ids = models_with_pruned(ws, task_spec or task)
                result = evaluate_runs_on_sets(
                    ws, runs=run_ids or None, top=top, device=device,
                    sliding_window=sliding_window, on_progress=on_progress, **options)
        task_name = result.task if result else task_spec.name
        roles = case_set_roles(ranking or _stored_ranking(ws, task_name))
    finally:
        ws.dispose()
    if json_:
        cli.print_json(result.to_dict() if selection is None else {
            "folds": [r.to_dict() for r in fold_reports],
            "models": result.to_dict() if result else None})
    else:
        for done in fold_reports:
            print_evaluation(cli, done, role="a fold run on the fold it held out")
        if result is not None:
            print_evaluations(cli, result, ws.root, roles)
        else:
            cli.out.print("cross-validation: no final model yet; `medselect sweep finalize "
                          "EXPERIMENT.yaml` ranks the configurations and builds it")
    failed = [(r.case_set, o) for r in fold_reports for o in r.failed]
    failed += result.failed if result else []
    n_outcomes = sum(len(r.outcomes) for r in fold_reports) + (result.n_outcomes if result else 0)
    if n_outcomes and len(failed) == n_outcomes:
        abort(f"no model could be evaluated: {failed[0][1].error}")
    if failed:
        cli.err.print(f"{len(failed)} evaluation(s) of a model on a case set failed; see the "
                      f"errors above")


def case_set_roles(ranking: RankingSpec | None) -> dict[str, str]:
    """What each case set named by the ranking rules is for: the selection set chooses the
    model, the confirmation set reports the chosen model's figures."""
    if ranking is None:
        return {}
    selection, confirmation = ranking.selection.case_set, ranking.confirmation
    roles = {confirmation: "confirms the choice (ranking.confirmation)"}
    if ranking.selection.folds is not None:
        return roles
    if selection == confirmation:
        roles[selection] = ("selects the model and confirms it (ranking.selection and "
                            "ranking.confirmation): its figures are biased upwards")
    else:
        roles[selection] = "selects the model (ranking.selection)"
    return roles


def _stored_ranking(ws, task: str) -> RankingSpec | None:
    from medselect.data import stored_ranking
    from medselect.errors import ConfigError, NotFound

    with ws.connect() as conn:
        try:
            return stored_ranking(conn, task)
        except (ConfigError, NotFound):
            return None


def _has_models(ws, task: str) -> bool:
    """Whether the task has a finished run to evaluate beside its fold runs."""
    from medselect.evaluate import models_to_evaluate

    with ws.connect() as conn:
        return bool(models_to_evaluate(conn, task))


@contextmanager
def evaluation_progress(cli: CLIContext, *, quiet: bool, what: str = "evaluating",
                        unit: str = "model x case") -> Iterator[ProgressFn | None]:
    """A rich progress bar over (model, case) pairs (or any ``unit``) on stderr, or nothing
    when ``quiet``."""
    if quiet:
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn(what), BarColumn(), MofNCompleteColumn(), TextColumn(unit),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=cli.err) as progress:
        bar = progress.add_task(what, total=None)

        def update(done: int, total: int) -> None:
            progress.update(bar, completed=done, total=total)

        yield update


def print_evaluations(cli: CLIContext, result: CaseSetReports, root: Path,
                      roles: dict[str, str] | None = None) -> None:
    """One table per case set, in the order evaluated, then the sets skipped and where the
    files are."""
    roles = roles or {}
    for name, report in zip(result.names, result.reports, strict=True):
        print_evaluation(cli, report, role=roles.get(name, ""))
    for skipped in result.skipped:
        cli.out.print(f"[yellow]skipped {skipped.name}:[/] {skipped.reason}", highlight=False)
    cli.out.print(f"files: [bold]{root}/evaluations/<evaluation>/[/] (predictions, overlays); "
                  f"--force recomputes")


def print_evaluation(cli: CLIContext, report: EvaluationReport, *, role: str = "") -> None:
    """The case set (and what it is for), then a table of every model's outcome on it."""
    key = next((o.key_metric for o in report.outcomes if o.key_metric), "")
    cli.out.print(f"task [bold]{report.task}[/], case set [bold]{report.case_set}[/] "
                  f"({report.case_set_kind}, {report.n_cases} cases)"
                  + (f": {role}" if role else ""))
    table = Table()
    for column in ("model", "status", "cases", f"mean {key}", "missing", "errors", "evaluation"):
        table.add_column(column, overflow="fold")
    for o in report.outcomes:
        value = "" if o.key_value is None else f"{o.key_value:.4g}"
        table.add_row(o.model_ref, o.status, f"{o.n_ok}/{o.n_cases}", value, str(o.n_missing),
                      str(o.n_errors), o.evaluation_id)
    cli.out.print(table)
    for o in report.outcomes:
        if o.error:
            cli.err.print(f"[red]{o.model_ref} failed:[/] {o.error}", highlight=False)
        for message in o.case_errors:
            cli.err.print(f"[yellow]{o.model_ref}:[/] {message}", highlight=False)
