"""``medselect serve`` and ``medselect report``: the dashboard, live or as a static folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medselect.cli.context import CLIContext
from medselect.cli.options import DEFAULT_WORKSPACE, JsonOpt, WorkspaceOpt


def serve(
    ctx: typer.Context,
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    host: Annotated[str, typer.Option(help="Address to bind; not loopback needs a token.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    token: Annotated[
        str | None,
        typer.Option(envvar="MEDSELECT_TOKEN",
                     help="Access token (generated and printed when binding beyond loopback). "
                          "Env: MEDSELECT_TOKEN."),
    ] = None,
) -> None:
    """Serve the dashboard (leaderboard, model pages, comparison, review, new cases)."""
    from medselect.store import Workspace

    Workspace.open(workspace).dispose()  # a clear error before the server starts
    run_server(ctx.obj, workspace, host=host, port=port, token=token)


def run_server(cli: CLIContext, workspace: Path, *, host: str, port: int,
               token: str | None = None) -> None:
    """Start uvicorn on the dashboard app and block until Ctrl-C."""
    import uvicorn

    from medselect.dashboard import DashboardSettings, create_app, ensure_token, server_urls

    settings = ensure_token(DashboardSettings(workspace=workspace, host=host, port=port,
                                              token=token))
    app = create_app(settings)  # a bad token or host fails here, before anything is printed
    first, *others = server_urls(settings)
    cli.out.print(f"dashboard: [bold]{first}[/]  (Ctrl-C to stop)")
    for url in others:
        cli.out.print(f"on this machine: [bold]{url}[/]")
    uvicorn.run(app, host=host, port=port, log_level="warning")


def report(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="Folder to write the static report to.")],
    workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
    case_set: Annotated[str | None, typer.Option(
        "--case-set", help="Case set the report is about: test | val | reference | an id "
                           "(default: what the dashboard opens on, the task's test set).")
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Write the dashboard as a static HTML folder that opens from disk."""
    from medselect.dashboard import export_static
    from medselect.store import Workspace

    cli: CLIContext = ctx.obj
    ws = Workspace.open(workspace)
    try:
        index = export_static(ws, out, case_set=case_set)
    finally:
        ws.dispose()
    if json_:
        pages = sorted(str(p.relative_to(index.parent)) for p in index.parent.rglob("*.html"))
        cli.print_json({"index": str(index), "pages": pages})
    else:
        cli.out.print(f"static report: [bold]{index}[/]")
