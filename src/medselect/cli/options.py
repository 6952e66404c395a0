"""Options every command shares, declared once as typed aliases."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DEFAULT_WORKSPACE = Path("medselect-workspace")

WorkspaceOpt = Annotated[
    Path,
    typer.Option(
        "--workspace",
        "-w",
        envvar="MEDSELECT_WORKSPACE",
        help="Workspace folder (database and artifacts). Env: MEDSELECT_WORKSPACE.",
        show_default=True,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]

# where runs are trained: ``sweep run`` and ``upgrade``
WorkersOpt = Annotated[int | None, typer.Option(min=1, help="Runs trained at once.")]
ThreadsOpt = Annotated[int | None, typer.Option(min=1, help="CPU threads per run.")]
ExecutorOpt = Annotated[str, typer.Option(help="local | ray | inprocess")]
AddressOpt = Annotated[
    str | None, typer.Option(help="Ray cluster address (default: start a local Ray).")
]
