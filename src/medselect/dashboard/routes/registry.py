"""The model registry: ``/registry`` (page) and ``/api/registry``; a version's model card:
``/registry/cards/{task}/{scope}/{version}`` (page) and ``/api/registry/cards/...``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, JSONResponse, Response

from medselect.dashboard import schemas, views
from medselect.dashboard.deps import ConnDep, DashboardDep, json_response
from medselect.dashboard.links import ServerLinks
from medselect.dashboard.render import render_page
from medselect.dashboard.views.card import version_card

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


@router.get("/api/registry/cards/{task}/{scope}/{version}")
def api_card(task: str, scope: str, version: int, conn: ConnDep) -> JSONResponse:
    """A registry version's model card, as ``medselect card --json`` gives it: intended use,
    training configuration, figures per site with intervals and patients, the gate decision and
    the versions it beat, the worst cases, the known limits."""
    return JSONResponse(version_card(conn, task, scope, version).to_dict())


@router.get("/registry/cards/{task}/{scope}/{version}", response_class=HTMLResponse,
            include_in_schema=False)
def card_page(task: str, scope: str, version: int, dash: DashboardDep,
              conn: ConnDep) -> HTMLResponse:
    links = ServerLinks()
    page = views.card_view(dash, conn, task, scope, version, links.artifact)
    return HTMLResponse(render_page("card.html", links, page))
