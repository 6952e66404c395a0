"""``medselect evaluate``: every model on every case of a case set, with a progress bar."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from medselect.cli.context import CLIContext, abort
from medselect.cli.options import DEFAULT_WORKSPACE, JsonOpt, WorkspaceOpt

if TYPE_CHECKING:
    from medselect.evaluate import EvaluationReport, ProgressFn

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
    cases: Annotated[
        str | None,
        typer.Option("--cases", help="test | reference | a case set id | PATH of new cases "
                                     "(manifest, nnU-Net folder or folder of images)."),
    ] = None,
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
    """Evaluate models on a case set: per-case metrics, prediction files and overlays.

    Finished evaluations are reused; --force recomputes them.
    """
    from medselect.config import load_experiment
    from medselect.evaluate import evaluate_external, evaluate_folds, evaluate_runs, load_task
    from medselect.evaluate.evaluations import check_sliding_window
    from medselect.store import Workspace

    cli: CLIContext = ctx.obj
    run_ids = [r.strip() for value in runs or () for r in value.split(",") if r.strip()]
    if predictions is None and name is not None:
        abort("--name names the model of --predictions; give --predictions FOLDER too")
    if predictions is not None and (run_ids or top is not None):
        abort("--predictions evaluates one folder of predictions; leave out --runs and --top "
              "(evaluate runs in a separate call)")
    spec = task_spec = selection = None
    if experiment is not None:
        loaded = load_experiment(experiment)
        spec, task_spec = loaded.evaluation, loaded.task
        if loaded.ranking.selection.folds and predictions is None and not run_ids:
            selection = loaded.ranking.selection
        if task is not None and task != task_spec.name:
            abort(f"--task {task!r} differs from the experiment's task {task_spec.name!r}; "
                  f"leave out --task")
    ws = Workspace.open(workspace)
    if sliding_window and predictions is None:  # refused before the progress bar starts
        task_spec = task_spec or load_task(ws, task)
        check_sliding_window(task_spec)
    options = {"task": task_spec or task, "case_set": cases, "spec": spec, "force": force,
               "overlays": overlays}
    fold_reports: list[EvaluationReport] = []
    report: EvaluationReport | None = None
    try:
        with evaluation_progress(cli, quiet=json_) as on_progress:
            if selection is not None:  # cross-validation: each fold run on its held-out fold
                fold_reports = evaluate_folds(ws, task_spec, selection, spec=spec, force=force,
                                              overlays=overlays, device=device,
                                              on_progress=on_progress)
            if predictions is not None:
                report = evaluate_external(ws, predictions, name or predictions.resolve().name,
                                           on_progress=on_progress, **options)
            elif selection is None or _has_models(ws, task_spec.name):
                report = evaluate_runs(ws, runs=run_ids or None, top=top, device=device,
                                       sliding_window=sliding_window, on_progress=on_progress,
                                       **options)
    finally:
        ws.dispose()
    if json_:
        cli.print_json(report.to_dict() if selection is None else {
            "folds": [r.to_dict() for r in fold_reports],
            "models": report.to_dict() if report else None})
    else:
        for done in [*fold_reports, *([report] if report else [])]:
            print_evaluation(cli, done, ws.root)
        if report is None:
            cli.out.print("cross-validation: no final model yet; `medselect sweep finalize "
                          "EXPERIMENT.yaml` ranks the configurations and builds it")
    outcomes = [o for r in [*fold_reports, *([report] if report else [])] for o in r.outcomes]
    failed = [o for o in outcomes if o.status == "failed"]
    if outcomes and len(failed) == len(outcomes):
        abort(f"no model could be evaluated: {failed[0].error}")
    if failed:
        cli.err.print(f"{len(failed)} model(s) failed; see the errors above")


def _has_models(ws, task: str) -> bool:
    """Whether the task has a finished run to evaluate beside its fold runs."""
    from medselect.evaluate import models_to_evaluate

    with ws.connect() as conn:
        return bool(models_to_evaluate(conn, task))


@contextmanager
def evaluation_progress(cli: CLIContext, *, quiet: bool) -> Iterator[ProgressFn | None]:
    """A rich progress bar over (model, case) pairs on stderr, or nothing when ``quiet``."""
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

    columns = (TextColumn("evaluating"), BarColumn(), MofNCompleteColumn(),
               TextColumn("model x case"), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=cli.err) as progress:
        bar = progress.add_task("evaluate", total=None)

        def update(done: int, total: int) -> None:
            progress.update(bar, completed=done, total=total)

        yield update


def print_evaluation(cli: CLIContext, report: EvaluationReport, root: Path) -> None:
    key = next((o.key_metric for o in report.outcomes if o.key_metric), "")
    cli.out.print(f"task [bold]{report.task}[/], case set [bold]{report.case_set}[/] "
                  f"({report.case_set_kind}, {report.n_cases} cases)")
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
    cli.out.print(f"files: [bold]{root}/evaluations/<evaluation>/[/] (predictions, overlays); "
                  f"--force recomputes")
