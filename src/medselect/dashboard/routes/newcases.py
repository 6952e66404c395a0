"""New cases: ``/case-sets/{case_set}/review`` (the "review first" queue with drift and output
signals) and its JSON, ``/api/case-sets/{case_set}/review-queue``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from medselect.dashboard.deps import ConnDep, DashboardDep, json_response
from medselect.dashboard.links import ServerLinks
from medselect.dashboard.render import render_page
from medselect.dashboard.views.newcases import ReviewQueuePage, review_queue_view

router = APIRouter(tags=["new cases"])


@router.get("/api/case-sets/{case_set}/review-queue", response_model=ReviewQueuePage)
def api_review_queue(case_set: str, dash: DashboardDep, conn: ConnDep) -> Response:
    """The case set's cases, those the indistinguishable top models disagree on most first,
    with the input drift per site and the top models' output signals."""
    return json_response(review_queue_view(dash, conn, case_set))


@router.get("/case-sets/{case_set}/review", response_class=HTMLResponse, include_in_schema=False)
def review_queue_page(case_set: str, dash: DashboardDep, conn: ConnDep) -> HTMLResponse:
    page = review_queue_view(dash, conn, case_set)
    return HTMLResponse(render_page("review_queue.html",
                                    ServerLinks(page.case_set.id, rankable=page.case_set.labelled),
                                    page))
