"""The leaderboard: ``/`` (page), ``/api/leaderboard``, its significance matrix, case sets."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from medselect.dashboard import charts, queries, schemas, views
from medselect.dashboard.deps import BoardQuery, ConnDep, DashboardDep, json_response
from medselect.dashboard.links import ServerLinks
from medselect.dashboard.render import render_page

router = APIRouter()


@router.get("/api/case-sets", response_model=list[schemas.CaseSetInfo], tags=["leaderboard"])
def api_case_sets(conn: ConnDep) -> list[schemas.CaseSetInfo]:
    """Case sets with finished evaluations: the task's own most evaluated first, then new cases
    (uploads) newest first. Pages open on the task's confirmation set (the test split) when it
    was evaluated, else on its selection set (validation split); never on new cases while
    another set was evaluated."""
    return queries.case_set_choices(conn)


@router.get("/api/leaderboard", response_model=schemas.Leaderboard, tags=["leaderboard"])
def api_leaderboard(dash: DashboardDep, conn: ConnDep, params: BoardQuery) -> Response:
    """Models ranked by one metric, label and aggregate, optionally on one site's cases."""
    return json_response(views.leaderboard_view(dash, conn, **params.model_dump()))


@router.get("/api/leaderboard/significance", response_model=schemas.Significance,
            tags=["leaderboard"])
def api_significance(dash: DashboardDep, conn: ConnDep, params: BoardQuery) -> Response:
    """Every pair of models on the leaderboard compared, Holm-corrected."""
    return json_response(views.significance_view(dash, conn, **params.model_dump()))


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def leaderboard_page(dash: DashboardDep, conn: ConnDep, params: BoardQuery) -> HTMLResponse:
    if params.case_set is None and not queries.case_set_choices(conn):
        return HTMLResponse(render_page("empty.html", ServerLinks(), queries.run_counts(conn),
                                        failed=queries.failed_runs(conn)))
    scope = queries.resolve_scope(conn, params.case_set)
    if not scope.labelled:
        return HTMLResponse(render_page("unlabelled.html", ServerLinks(scope.id, rankable=False),
                                        views.unlabelled_view(dash, conn, scope)))
    board = views.leaderboard_view(dash, conn, **params.model_dump())
    sig = views.significance_view(dash, conn, **params.model_dump())
    return HTMLResponse(render_page("leaderboard.html", ServerLinks(board.case_set.id), board,
                                    charts=charts.leaderboard_charts(board, sig)))
