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
