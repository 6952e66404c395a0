"""Expert reviews: stored only for a model evaluated on the case set and a case of that set."""

from __future__ import annotations

import sqlalchemy as sa

from medselect.dashboard import queries
from medselect.dashboard.context import Dashboard
from medselect.dashboard.schemas import Review, ReviewIn
from medselect.errors import NotFound
from medselect.store import add_review, list_reviews


def submit_review(dash: Dashboard, conn: sa.Connection, review: ReviewIn) -> Review:
    """Store a verdict; ``conn`` must be a write transaction.

    Raises:
        NotFound: the case set, the model's evaluation on it or the case is missing.
    """
    scope = queries.resolve_scope(conn, review.case_set)
    queries.evaluation_of(scope, review.model_ref)
    if review.case_id not in queries.case_sites(dash, conn, scope):
        raise NotFound(f"case {review.case_id!r} is not in case set {scope.id!r}")
    return Review(**add_review(conn, **review.model_dump()))


def reviews_view(
    conn: sa.Connection,
    case_set: str | None = None,
    model_ref: str | None = None,
    case_id: str | None = None,
) -> list[Review]:
    return [Review(**row) for row in list_reviews(conn, case_set, model_ref, case_id)]
