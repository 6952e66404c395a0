"""Files: overlays and thumbnails of the workspace, and the registry's decision reports.

What is served is decided in one place (:func:`~medselect.dashboard.files.artifact_path`): files
inside the workspace only, images and prediction volumes anywhere in it and HTML only directly
in ``registry/decisions/``. Anything else is a plain 404, which says nothing about whether the
file exists. A decision report is sent with a Content-Security-Policy that runs no script,
loads nothing (it is standalone, with inline style only) and sandboxes it away from the
dashboard's origin (the other security headers are added to every response by
:mod:`medselect.dashboard.headers`).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from medselect.dashboard.deps import WorkspaceDep
from medselect.dashboard.files import REPORT_SUFFIXES, SERVED_SUFFIXES, artifact_path

__all__ = ["SERVED_SUFFIXES", "artifact_path", "router"]

router = APIRouter(include_in_schema=False)

REPORT_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox; "
                               "frame-ancestors 'none'",
}


@router.get("/artifacts/{relative:path}")
def artifact(relative: str, workspace: WorkspaceDep) -> FileResponse:
    path = artifact_path(workspace.root, relative)
    if path.name.lower().endswith(REPORT_SUFFIXES):
        return FileResponse(path, media_type="text/html; charset=utf-8", headers=REPORT_HEADERS)
    return FileResponse(path)
