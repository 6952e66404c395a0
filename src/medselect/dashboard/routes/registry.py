"""The model registry: ``/registry`` (page) and ``/api/registry``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from medselect.dashboard import schemas, views
from medselect.dashboard.deps import ConnDep, DashboardDep, json_response
from medselect.dashboard.links import ServerLinks
from medselect.dashboard.render import render_page

router = APIRouter(tags=["registry"])


@router.get("/api/registry", response_model=schemas.RegistryPage)
def api_registry(dash: DashboardDep, conn: ConnDep) -> Response:
    """Per task and scope: champion, error budget, every version, rollbacks and refreshes.

    Versions come newest first with their gate decision (look, level, K) and the location of
    their decision report; an empty ``tasks`` list means nothing was promoted yet."""
    return json_response(views.registry_view(dash, conn))


@router.get("/registry", response_class=HTMLResponse, include_in_schema=False)
def registry_page(dash: DashboardDep, conn: ConnDep) -> HTMLResponse:
    return HTMLResponse(render_page("registry.html", ServerLinks(),
                                    views.registry_view(dash, conn)))
