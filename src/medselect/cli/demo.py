"""``medselect demo``: the whole journey on the built-in multi-site knee MR phantom."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from medselect.cli.context import CLIContext
from medselect.cli.options import DEFAULT_WORKSPACE, WorkspaceOpt


def demo(
    ctx: typer.Context,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    cases_per_site: Annotated[int, typer.Option(min=3, help="Patients per site.")] = 24,
    size: Annotated[int, typer.Option(min=32, help="Image side in pixels.")] = 128,
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="End by serving the dashboard.")
    ] = True,
) -> None:
    """Generate the knee phantom, import it and print where everything was written."""
    from medselect.cli.data import print_import
    from medselect.config import default_demo_experiment
    from medselect.data.importer import import_experiment_data
    from medselect.store import Workspace

    cli: CLIContext = ctx.obj
    started = time.perf_counter()
    experiment = default_demo_experiment()
    experiment.data.source.cases_per_site = cases_per_site
    experiment.data.source.size = size
    ws = Workspace.create(workspace)
    cli.out.rule("1. data: multi-site knee MR phantom")
    print_import(cli, import_experiment_data(ws, experiment))
    cli.out.rule("done")
    cli.out.print(f"workspace: [bold]{ws.root}[/] (database medselect.db, files under data/)")
    cli.out.print(f"wall time: {time.perf_counter() - started:.1f} s")
