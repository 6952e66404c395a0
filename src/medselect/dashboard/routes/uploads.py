"""New cases: ``/upload`` (form), ``/api/uploads`` (send), ``/api/uploads/{id}`` and
``/uploads/{id}`` (progress, then the predictions).

The request is refused before its body is read when its ``Content-Length`` is over the limit
or when every place for uploads is taken (429,
:class:`~medselect.dashboard.upload_queue.UploadJobs`); every file is then checked by
:func:`medselect.dashboard.upload_staging.stage_upload`, inference runs in the background, and the
stored uploads beyond the workspace's cap or age expire
(:func:`~medselect.dashboard.upload_expiry.expire_stored_uploads`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.datastructures import UploadFile

from medselect.dashboard.deps import ConnDep, DashboardDep, json_response
from medselect.dashboard.links import ServerLinks
from medselect.dashboard.render import render_page
from medselect.dashboard.security import CsrfTokenDep
from medselect.dashboard.upload_expiry import expire_stored_uploads
from medselect.dashboard.upload_queue import UploadJobs, UploadStatus
from medselect.dashboard.upload_staging import Incoming, Limits, check_upload_id, stage_upload
from medselect.dashboard.views.uploads import choose_models, upload_form, upload_page
from medselect.evaluate import load_task

router = APIRouter(tags=["uploads"])
MULTIPART_OVERHEAD = 1 << 16
"""Bytes a request may carry beyond its files' limit (part headers, form fields)."""
MAX_SITE_LENGTH = 100


def get_jobs(request: Request) -> UploadJobs:
    return request.app.state.uploads


JobsDep = Annotated[UploadJobs, Depends(get_jobs)]


@router.get("/upload", response_class=HTMLResponse, include_in_schema=False)
def form_page(dash: DashboardDep, conn: ConnDep, csrf: CsrfTokenDep) -> HTMLResponse:
    return HTMLResponse(render_page("upload.html", ServerLinks(), upload_form(dash, conn),
                                    mode="form", limits=_limits(dash), csrf=csrf))


@router.post("/api/uploads", status_code=202, openapi_extra={"requestBody": {"content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["images"], "properties": {
        "images": {"type": "array", "items": {"type": "string", "format": "binary"}},
        "labels": {"type": "array", "items": {"type": "string", "format": "binary"}},
        "site": {"type": "string"},
        "models": {"type": "array", "items": {"type": "string"}}}}}}}})
async def api_upload(request: Request, dash: DashboardDep, jobs: JobsDep) -> JSONResponse:
    """Store new cases (multipart: ``images``, optional ``labels``, ``site``, ``models``; see
    ``/upload``) and start predicting them; answers the upload id and where to follow it."""
    limits = _limits(dash)
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit():
        raise HTTPException(411, "send the upload with a Content-Length header")
    if int(declared) > limits.request_bytes + MULTIPART_OVERHEAD:
        raise HTTPException(413, f"the upload is {int(declared) / 1e6:g} MB, more than "
                                 f"{limits.request_bytes / 1e6:g} MB; send fewer files at once")
    ws = dash.workspace
    with jobs.reserve() as place:
        form = await request.form(max_files=limits.files + 1, max_fields=1000)
        try:
            images, labels = _files(form.getlist("images")), _files(form.getlist("labels"))
            site = _site(form.get("site"))
            models = [m for m in form.getlist("models") if isinstance(m, str) and m]
            with ws.connect() as conn:
                task, models = choose_models(dash, conn, models)
            spec = load_task(ws, task)
            stored = await run_in_threadpool(stage_upload, ws.root, images, labels, site=site,
                                             limits=limits, task=spec,
                                             upload_id=place.upload_id)
        finally:
            await form.close()
        status = place.start(ws, stored, task=task, site=site, models=models)
    jobs.forget(await run_in_threadpool(expire_stored_uploads, ws, dash.settings,
                                        keep=jobs.active()))
    return JSONResponse({"upload_id": status.upload_id,
                         "status_url": f"/api/uploads/{status.upload_id}",
                         "page_url": f"/uploads/{status.upload_id}"}, status_code=202)


@router.get("/api/uploads/{upload_id}", response_model=UploadStatus)
def api_upload_status(upload_id: str, dash: DashboardDep, jobs: JobsDep):
    """queued, running (``done`` of ``total`` model x case predictions), finished or failed;
    the new case set's id once stored, and errors."""
    return json_response(jobs.get(dash.workspace, check_upload_id(upload_id)))


@router.get("/uploads/{upload_id}", response_class=HTMLResponse, include_in_schema=False)
def status_page(upload_id: str, dash: DashboardDep, conn: ConnDep, jobs: JobsDep
                ) -> HTMLResponse:
    status = jobs.get(dash.workspace, check_upload_id(upload_id))
    return HTMLResponse(render_page("upload.html", ServerLinks(status.case_set),
                                    upload_page(dash, conn, status), mode="status",
                                    limits=_limits(dash)))


def _limits(dash) -> Limits:
    s = dash.settings
    return Limits(file_bytes=s.max_upload_file_bytes, request_bytes=s.max_upload_bytes,
                  files=s.max_upload_files, unpacked_bytes=s.max_upload_unpacked_bytes,
                  voxels=s.max_upload_voxels)


def _files(values: list) -> list[Incoming]:
    """The form's files; an empty file input (no name, no content) is not a file."""
    files = []
    for value in values:
        if value == "":
            continue
        if not isinstance(value, UploadFile):
            raise HTTPException(400, "images and labels must be files, not text fields")
        if value.filename or value.size:
            files.append(Incoming(value.filename or "", value.file))
    return files


def _site(value: object) -> str:
    site = (value if isinstance(value, str) else "").strip() or "upload"
    if len(site) > MAX_SITE_LENGTH or not site.isprintable():
        raise HTTPException(400, f"site: give a printable name of at most {MAX_SITE_LENGTH} "
                                 "characters")
    return site
