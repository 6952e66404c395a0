"""Cases: ``/cases/{case_id}`` (page, every model on one case) and its JSON."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from medselect.dashboard import schemas, views
from medselect.dashboard.deps import ConnDep, DashboardDep, json_response
from medselect.dashboard.links import ServerLinks
from medselect.dashboard.render import render_page
from medselect.dashboard.security import CsrfTokenDep

router = APIRouter(tags=["cases"])


@router.get("/api/cases/{case_id}", response_model=schemas.CasePage)
def api_case(case_id: str, dash: DashboardDep, conn: ConnDep, case_set: str | None = None,
             metric: str | None = None, label: str | None = None) -> Response:
    """Every evaluated model on one case, best first by ``metric``, with reviews."""
    return json_response(views.case_view(dash, conn, case_id, case_set=case_set, metric=metric,
                                         label=label))


@router.get("/cases/{case_id}", response_class=HTMLResponse, include_in_schema=False)
def case_page(case_id: str, dash: DashboardDep, conn: ConnDep, csrf: CsrfTokenDep,
              case_set: str | None = None, metric: str | None = None,
              label: str | None = None, model: str | None = None) -> HTMLResponse:
    """``model``: the prediction the viewer opens with (default the best model's)."""
    page = views.case_view(dash, conn, case_id, case_set=case_set, metric=metric, label=label)
    return HTMLResponse(render_page("case.html", ServerLinks(page.case_set.id), page,
                                    csrf=csrf, selected=model))
