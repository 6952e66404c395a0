"""``medselect predict``: new cases predicted by the registry's champions, each case by its
site's champion (else the global one, said per case).

The work is :func:`medselect.deploy.predict_cases`; this module parses, calls and prints.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table

from medselect.cli.context import CLIContext, abort
from medselect.cli.evaluate import evaluation_progress
from medselect.cli.options import (
    DEFAULT_WORKSPACE,
    CaseInfoOpt,
    JsonOpt,
    PatientsOpt,
    SiteOpt,
    WorkspaceOpt,
)

if TYPE_CHECKING:
    from medselect.deploy import PredictionReport

TaskOpt = Annotated[str | None, typer.Option("--task", help="Task (default: the workspace's "
                                                            "only task).")]
DeviceOpt = Annotated[str | None, typer.Option(help="cpu | cuda | cuda:N (default: CUDA when "
                                                    "present).")]


def predict(
    ctx: typer.Context,
    cases: Annotated[Path, typer.Argument(help="New cases: a CSV/JSON manifest, an nnU-Net "
                                               "folder or its imagesTs/, or a folder of images "
                                               "(<case>.nii.gz, or <case>_0000.nii.gz per "
                                               "channel).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the predictions "
                                                    "(<case_id>.nii.gz, .png for PNG inputs, "
                                                    ".json for landmarks and classes) and "
                                                    "predictions.json.")],
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    scope: Annotated[str, typer.Option(
        "--scope", help="auto: each case's site champion, else the global one | global | "
                        "site:NAME (that champion for every case).")] = "auto",
    site: SiteOpt = None,
    patients: PatientsOpt = None,
    case_info: CaseInfoOpt = None,
    task: TaskOpt = None,
    device: DeviceOpt = None,
    sliding_window: Annotated[bool, typer.Option(
        "--sliding-window", help="Predict cases larger than a model's input size with sliding "
                                 "windows instead of resizing.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Predict new cases with the champions: each case by its site's champion, falling back to
    the global champion (said per case in predictions.json, with the version and the gate
    decision that made it champion). Exit 1 when some case has no prediction."""
    from medselect.data.caseinfo import CaseInfo
    from medselect.deploy import predict_cases
    from medselect.evaluate import NewCases
    from medselect.store import Workspace

    cli: CLIContext = ctx.obj
    new = NewCases(cases, info=CaseInfo.of(patients=patients, case_info=case_info, site=site))
    ws = Workspace.open(workspace)
    try:
        with evaluation_progress(cli, quiet=json_, what="predicting", unit="cases") as progress:
            report = predict_cases(ws, new, out, task=task, scope=scope, device=device,
                                   sliding_window=sliding_window, on_progress=progress)
    finally:
        ws.dispose()
    if json_:
        cli.print_json(report.to_dict())
    else:
        print_predictions(cli, report)
    if report.failed:
        first = report.failed[0]
        abort(f"{len(report.failed)} of {len(report.cases)} case(s) have no prediction; the "
              f"first: {first.error}")


def print_predictions(cli: CLIContext, report: PredictionReport) -> None:
    """Which champion predicted how many cases, why some fell back, and where the files are."""
    table = Table(box=box.SIMPLE_HEAD, title=f"task {report.task}: {len(report.cases)} cases")
    for column in ("scope", "version", "model", "cases", "failed"):
        table.add_column(column, overflow="fold")
    served = Counter((c.scope, c.version, c.model_ref) for c in report.cases)
    failed = Counter((c.scope, c.version, c.model_ref) for c in report.failed)
    for (scope, version, model), n in served.items():
        table.add_row(scope, f"v{version}", model, str(n), str(failed[scope, version, model]))
    cli.out.print(table)
    for (site, reason), n in Counter((c.site, c.fallback) for c in report.cases
                                     if c.fallback).items():
        cli.out.print(f"[yellow]{n} case(s) of site {site}:[/] {reason}", highlight=False)
    for case in report.failed:
        cli.err.print(f"[red]{case.case_id}:[/] {case.error}", highlight=False)
    cli.out.print(f"predictions: [bold]{report.folder}[/] (per case: model, version, scope and "
                  f"evidence in predictions.json)", highlight=False)
