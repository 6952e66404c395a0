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

# who new cases belong to: ``data import``, ``data check`` and ``evaluate --cases PATH``
PatientsOpt = Annotated[
    str | None,
    typer.Option("--patients", help="Pattern on the case id whose named group 'patient' (and "
                                    "optionally 'site') names the patient, e.g. "
                                    "'(?P<patient>.+)_z\\d+' for slices p7_z012."),
]
CaseInfoOpt = Annotated[
    Path | None,
    typer.Option("--case-info", help="CSV/JSON of case_id, patient_id, site and any attribute "
                                     "(wins over --patients)."),
]
SiteOpt = Annotated[
    str | None, typer.Option("--site", help="Site of the new cases whose source names none.")
]
