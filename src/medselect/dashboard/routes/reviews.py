"""Expert reviews: ``/api/reviews`` (list, add) and the case page's form."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from medselect.dashboard import schemas, views
from medselect.dashboard.deps import ConnDep, DashboardDep, json_response
from medselect.dashboard.links import ServerLinks

router = APIRouter(tags=["reviews"])


@router.get("/api/reviews", response_model=list[schemas.Review])
def api_reviews(conn: ConnDep, case_set: str | None = None, model_ref: str | None = None,
                case_id: str | None = None) -> list[schemas.Review]:
    """Reviews, oldest first, filtered by the arguments."""
    return views.reviews_view(conn, case_set, model_ref, case_id)


@router.post("/api/reviews", response_model=schemas.Review, status_code=201)
def api_add_review(review: schemas.ReviewIn, dash: DashboardDep) -> Response:
    """Store a verdict on one model's prediction for one case."""
    with dash.workspace.begin() as conn:
        stored = views.submit_review(dash, conn, review)
    return json_response(stored, status_code=201)


@router.post("/cases/{case_id}/reviews", include_in_schema=False)
def form_review(
    case_id: str,
    dash: DashboardDep,
    model_ref: Annotated[str, Form()],
    case_set: Annotated[str, Form()],
    reviewer: Annotated[str, Form()] = "",
    verdict: Annotated[str, Form()] = "",
    comment: Annotated[str, Form()] = "",
    metric: Annotated[str | None, Form()] = None,
    label: Annotated[str | None, Form()] = None,
) -> RedirectResponse:
    """The case page's review form; back to the case page (303) once stored."""
    try:
        review = schemas.ReviewIn(model_ref=model_ref, case_set=case_set, case_id=case_id,
                                  reviewer=reviewer, verdict=verdict, comment=comment)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])}
                                      for e in exc.errors(include_url=False)]) from None
    with dash.workspace.begin() as conn:
        views.submit_review(dash, conn, review)
    url = ServerLinks(case_set).case(case_id, metric=metric, label=label)
    return RedirectResponse(url, status_code=303)
