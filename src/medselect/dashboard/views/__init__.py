"""Page data built from the store, ``medselect.choose``, ``medselect.rank`` and
``medselect.registry``: shared by the HTML pages, the JSON API and the static export."""

from medselect.dashboard.views.card import card_view
from medselect.dashboard.views.case import case_view
from medselect.dashboard.views.compare import compare_view
from medselect.dashboard.views.leaderboard import (
    leaderboard_view,
    significance_view,
    unlabelled_view,
)
from medselect.dashboard.views.model import gallery, model_view
from medselect.dashboard.views.registry import registry_view
from medselect.dashboard.views.reviews import reviews_view, submit_review
from medselect.dashboard.views.sites import sites_view

__all__ = [
    "card_view",
    "case_view",
    "compare_view",
    "gallery",
    "leaderboard_view",
    "model_view",
    "registry_view",
    "reviews_view",
    "significance_view",
    "sites_view",
    "submit_review",
    "unlabelled_view",
]
