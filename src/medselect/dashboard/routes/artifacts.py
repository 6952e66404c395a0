"""Files: overlays and thumbnails of the workspace, and plotly.js from the installed package.

Only files inside the workspace are served (the resolved path, symlinks followed, must lie
under the resolved workspace folder), and only kinds the pages show: images and prediction
volumes, never the database or anything else. Anything else is a plain 404, which says
nothing about whether the file exists.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from medselect.dashboard.deps import WorkspaceDep
from medselect.dashboard.render import plotly_js
from medselect.errors import NotFound

router = APIRouter(include_in_schema=False)

SERVED_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".nii", ".nii.gz", ".nrrd")


def artifact_path(root: Path, relative: str) -> Path:
    """The file ``relative`` names inside ``root``.

    Raises:
        NotFound: it lies outside ``root`` (``..``, an absolute path, a symlink out), is not
            a regular file, or is not a kind of file the dashboard serves.
    """
    refusal = NotFound(f"no artifact {relative!r} in the workspace")
    if "\x00" in relative or relative.startswith(("/", "\\")):
        raise refusal
    base = root.resolve()
    try:
        path = (base / relative).resolve(strict=True)
    except (OSError, RuntimeError):
        raise refusal from None
    if not path.is_relative_to(base) or not path.is_file():
        raise refusal
    if not path.name.lower().endswith(SERVED_SUFFIXES):
        raise refusal
    return path


@router.get("/artifacts/{relative:path}")
def artifact(relative: str, workspace: WorkspaceDep) -> FileResponse:
    return FileResponse(artifact_path(workspace.root, relative))


@router.get("/static/plotly.min.js")
def plotly() -> FileResponse:
    return FileResponse(plotly_js(), media_type="text/javascript")
