"""Comparison of 2 to 4 models: ``/compare`` (page) and ``/api/compare``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from medselect.dashboard import schemas, views
from medselect.dashboard.deps import ConnDep, DashboardDep, json_response
from medselect.dashboard.links import ServerLinks
from medselect.dashboard.render import render_page

router = APIRouter(tags=["compare"])
Models = Annotated[list[str] | None, Query(description="2 to 4 model refs; default the two best")]


@router.get("/api/compare", response_model=schemas.Compare)
def api_compare(dash: DashboardDep, conn: ConnDep, models: Models = None,
                case_set: str | None = None, metric: str | None = None,
                label: str | None = None,
                limit: Annotated[int | None, Query(ge=0)] = None) -> Response:
    """Per-case values and deltas, the cases where the models differ most first."""
    return json_response(views.compare_view(dash, conn, models or (), case_set=case_set,
                                            metric=metric, label=label, limit=limit))


@router.get("/compare", response_class=HTMLResponse, include_in_schema=False)
def compare_page(dash: DashboardDep, conn: ConnDep, models: Models = None,
                 case_set: str | None = None, metric: str | None = None,
                 label: str | None = None) -> HTMLResponse:
    page = views.compare_view(dash, conn, models or (), case_set=case_set, metric=metric,
                              label=label)
    return HTMLResponse(render_page("compare.html", ServerLinks(page.case_set.id), page))
