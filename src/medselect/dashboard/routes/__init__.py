"""One router per resource; :func:`medselect.dashboard.create_app` includes them all."""

from medselect.dashboard.routes import (
    api_index,
    artifacts,
    cases,
    compare,
    leaderboard,
    models,
    reviews,
)

ROUTERS = (leaderboard.router, models.router, cases.router, compare.router, reviews.router,
           artifacts.router, api_index.router)

__all__ = ["ROUTERS"]
