"""One router per resource; :func:`medselect.dashboard.create_app` includes them all."""

from medselect.dashboard.routes import (
    api_index,
    artifacts,
    cases,
    compare,
    leaderboard,
    models,
    newcases,
    registry,
    reviews,
    sites,
    uploads,
    volumes,
)

ROUTERS = (leaderboard.router, sites.router, models.router, cases.router, volumes.router,
           compare.router, reviews.router, uploads.router, newcases.router, registry.router,
           artifacts.router, api_index.router)

__all__ = ["ROUTERS"]
