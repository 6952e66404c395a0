"""Models: ``/models/{ref}`` (page), ``/api/models``, ``/api/models/{ref}[/cases]``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from medselect.dashboard import charts, queries, schemas, views
from medselect.dashboard.deps import ConnDep, DashboardDep, json_response
from medselect.dashboard.links import ServerLinks
from medselect.dashboard.render import render_page

router = APIRouter(tags=["models"])


class GalleryParams(BaseModel):
    """Which of a model's cases to show: worst first by ``sort`` unless ``descending`` is
    given."""

    case_set: str | None = None
    label: str | None = None
    sort: str | None = None
    descending: bool | None = None
    site: str | None = None
    page: int = Field(1, ge=1)
    page_size: int | None = Field(None, ge=1, le=1000)


GalleryQuery = Annotated[GalleryParams, Query()]


@router.get("/api/models", response_model=list[schemas.ModelInfo])
def api_models(conn: ConnDep, case_set: str | None = None) -> list[schemas.ModelInfo]:
    """Every model evaluated on the case set (default: the most evaluated one)."""
    scope = queries.resolve_scope(conn, case_set)
    infos = queries.model_infos(conn, scope.task)
    return [queries.model_info(infos, ref) for ref in sorted(scope.evaluations)]


@router.get("/api/models/{ref}", response_model=schemas.ModelPage)
def api_model(ref: str, dash: DashboardDep, conn: ConnDep, params: GalleryQuery) -> Response:
    """A model's configuration, training curves, metric distributions and one gallery page."""
    return json_response(views.model_view(dash, conn, ref, **params.model_dump()))


@router.get("/api/models/{ref}/cases", response_model=schemas.Gallery)
def api_gallery(ref: str, dash: DashboardDep, conn: ConnDep, params: GalleryQuery) -> Response:
    """One page of the model's cases with their metrics and overlay locations."""
    page = views.model_view(dash, conn, ref, **params.model_dump())
    return json_response(page.gallery)


@router.get("/models/{ref}", response_class=HTMLResponse, include_in_schema=False)
def model_page(ref: str, dash: DashboardDep, conn: ConnDep, params: GalleryQuery) -> HTMLResponse:
    page = views.model_view(dash, conn, ref, **params.model_dump())
    links = ServerLinks(page.case_set.id, rankable=page.case_set.labelled)
    return HTMLResponse(render_page("model.html", links, page,
                                    charts=charts.model_charts(page)))
