"""A case's volumes as NIfTI, for the case viewer: ``/api/cases/{case_id}/volumes/{name}``.

What each name means and how a volume is encoded: :mod:`medselect.dashboard.views.viewer` and
:mod:`medselect.dashboard.volumes`. A volume carries an ETag of the stored file's version, so a
browser that saw it before revalidates it for nothing (304) instead of fetching it again.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import Response

from medselect.dashboard.deps import ConnDep, DashboardDep
from medselect.dashboard.views.viewer import VolumeName, volume_file

router = APIRouter(tags=["cases"])

NIFTI = {200: {"content": {"application/octet-stream": {}, "application/gzip": {}},
               "description": "the volume as NIfTI (.nii, or gzipped for .nii.gz)"}}


@router.get("/api/cases/{case_id}/volumes/{name}", response_class=Response, responses=NIFTI)
def case_volume(
    case_id: str,
    name: VolumeName,
    dash: DashboardDep,
    conn: ConnDep,
    case_set: str | None = None,
    model: str | None = None,
    channel: Annotated[int, Query(ge=0)] = 0,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """One volume of the case as NIfTI: ``image.nii`` (image channel ``channel``),
    ``label.nii.gz`` (the reference label map) or ``prediction.nii.gz`` (the label map
    ``model`` predicted)."""
    path, kind = volume_file(dash, conn, case_id, name, case_set=case_set, model=model,
                             channel=channel)
    volume = dash.volumes.get(path, kind)
    headers = {"ETag": volume.etag, "Cache-Control": "no-cache"}
    if if_none_match == volume.etag:
        return Response(status_code=304, headers=headers)
    return Response(volume.data, media_type=volume.media_type, headers=headers)
