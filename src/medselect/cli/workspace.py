"""``medselect workspace``: the workspace itself, as opposed to what it holds."""

from __future__ import annotations

import typer

from medselect.cli.context import CLIContext
from medselect.cli.options import DEFAULT_WORKSPACE, JsonOpt, WorkspaceOpt

app = typer.Typer(help="Look after the workspace itself (upgrade one an older medselect wrote).",
                  no_args_is_help=True)


@app.command("upgrade")
def upgrade(ctx: typer.Context, workspace: WorkspaceOpt = DEFAULT_WORKSPACE,
            json_: JsonOpt = False) -> None:
    """Upgrade, in place and in one transaction, a workspace database an older medselect wrote
    (a SQLite database is copied beside itself first)."""
    from medselect.store.migrations import upgrade_workspace

    cli: CLIContext = ctx.obj
    result = upgrade_workspace(workspace)
    if json_:
        cli.print_json(result.to_dict())
        return
    if result.upgraded:
        cli.out.print(f"Upgraded {result.database} from schema version {result.from_version} "
                      f"to {result.to_version}.")
    cli.out.print(result.note[0].upper() + result.note[1:] + ".")
