"""One router per resource; :func:`medselect.dashboard.create_app` includes them all."""

from medselect.dashboard.routes import artifacts, cases, compare, leaderboard, models, reviews

ROUTERS = (leaderboard.router, models.router, cases.router, compare.router, reviews.router,
           artifacts.router)

__all__ = ["ROUTERS"]
