"""The best model per site: ``/sites`` (page) and ``/api/sites``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from medselect.dashboard import schemas, views
from medselect.dashboard.deps import ConnDep, DashboardDep, json_response
from medselect.dashboard.links import ServerLinks
from medselect.dashboard.render import render_page

router = APIRouter(tags=["sites"])


class SitesParams(BaseModel):
    """The question, as ``medselect rank --metric --label --agg --by site`` asks it; every
    field defaults to the task's ranking rules."""

    case_set: str | None = None
    metric: str | None = None
    label: str | None = None
    aggregate: str | None = None


SitesQuery = Annotated[SitesParams, Query()]


@router.get("/api/sites", response_model=schemas.SitesPage)
def api_sites(dash: DashboardDep, conn: ConnDep, params: SitesQuery) -> Response:
    """Per site: the best model on the selection set, its runner-up, the margin with its
    interval, the runner-up's standing and p-value, patients, the figure on the site's
    confirmation cases, and whether the evidence is too thin to tell."""
    return json_response(views.sites_view(dash, conn, **params.model_dump()))


@router.get("/sites", response_class=HTMLResponse, include_in_schema=False)
def sites_page(dash: DashboardDep, conn: ConnDep, params: SitesQuery) -> HTMLResponse:
    page = views.sites_view(dash, conn, **params.model_dump())
    return HTMLResponse(render_page("sites.html", ServerLinks(page.board_set), page))
