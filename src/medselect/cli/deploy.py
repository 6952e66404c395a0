"""``medselect predict`` and ``medselect export``: the registry's champions put to work, on
new cases (each case by its site's champion, else the global one, said per case) or handed to
a deployment stack (MONAI bundle, ONNX, TorchScript, with a routing table).

The work is :mod:`medselect.deploy`'s; this module parses, calls and prints.
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
    from medselect.deploy import ExportReport, PredictionReport

TaskOpt = Annotated[str | None, typer.Option("--task", help="Task (default: the workspace's "
                                                            "only task).")]
DeviceOpt = Annotated[str | None, typer.Option(help="cpu | cuda | cuda:N (default: CUDA when "
                                                    "present).")]


def predict(
    ctx: typer.Context,
    cases: Annotated[Path, typer.Argument(help="New cases: a CSV/JSON manifest, an nnU-Net "
                                               "folder or its imagesTs/, a folder of images "
                                               "(<case>.nii.gz, or <case>_0000.nii.gz per "
                                               "channel), or a folder of DICOM series "
                                               "folders (one per case).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the predictions "
                                                    "(<case_id>.nii.gz, .png for PNG inputs, "
                                                    ".dcm DICOM SEG for DICOM series, .json "
                                                    "for landmarks and classes) and "
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
    seg_format: Annotated[str, typer.Option(
        "--seg-format", help="How label maps are written: auto (a DICOM SEG referencing the series "
                         "for a DICOM series input, PNG for PNG, else NIfTI) | nifti (always) | "
                         "dicom-seg (every case must be a DICOM series).")] = "auto",
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
                                   sliding_window=sliding_window, on_progress=progress,
                                   seg_format=seg_format)
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


def export(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="Folder for the exports: one folder per "
                                                    "scope (global, site-NAME), and "
                                                    "routing.json for several scopes.")],
    fmt: Annotated[str, typer.Option("--format", help="monai-bundle | onnx | torchscript")],
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    scopes: Annotated[list[str] | None, typer.Option(
        "--scope", help="global | site:NAME; repeat for several (default: global).")] = None,
    task: TaskOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Export the champion of each scope: a MONAI bundle (runs with `python -m monai.bundle
    run`), ONNX (checked with ONNX Runtime) or TorchScript (checked against PyTorch), each with
    its registry version and gate evidence; routing.json maps each site to its model."""
    from medselect.deploy import export_champions
    from medselect.store import Workspace

    cli: CLIContext = ctx.obj
    ws = Workspace.open(workspace)
    try:
        report = export_champions(ws, scopes or ["global"], fmt, out, task=task)
    finally:
        ws.dispose()
    if json_:
        cli.print_json(report.to_dict())
    else:
        print_export(cli, report)


def print_export(cli: CLIContext, report: ExportReport) -> None:
    """Each exported champion, how far its export is from PyTorch, and the routing table."""
    table = Table(box=box.SIMPLE_HEAD, title=f"task {report.task}: {report.format.value}")
    for column in ("scope", "version", "model", "exported to", "max |difference|"):
        table.add_column(column, overflow="fold")
    for m in report.models:
        table.add_row(m.scope, f"v{m.version}", m.model_ref, m.path, f"{m.difference:.2g}")
    cli.out.print(table)
    cli.out.print(f"exported into [bold]{report.folder}[/]", highlight=False)
    if report.routing is not None:
        cli.out.print(f"routing: [bold]{report.routing}[/] (site -> model; the global model "
                      "for every other site)", highlight=False)
