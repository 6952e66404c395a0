"""A registry version's model card as a dashboard page: the card
:func:`medselect.registry.model_card` gathers, in the words and numbers
:func:`medselect.registry.card_context` formats for the Markdown and HTML files written at
promotion, so the page, the files and ``medselect card`` say the same.

The page differs from the standalone file only in its links: overlays and the decision report
are served from the workspace (``/artifacts/...``, or copied into a static export), and each
worst case links to its case page on the reference set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from medselect.dashboard.context import Dashboard
from medselect.dashboard.files import served
from medselect.dashboard.views.registry import model_pages
from medselect.registry import ModelCard, card_context, model_card, parse_scope
from medselect.store import find_model_version

__all__ = ["CardPage", "card_view", "version_card"]


@dataclass(frozen=True)
class CardPage:
    """A model card and its display text (:func:`~medselect.registry.card_context`).

    Attributes:
        model_case_set: the case set the model's page opens on (None: it has none).
        artifacts: the workspace files the page links (overlays, the decision report), which
            a static export copies beside it.
    """

    card: ModelCard
    text: dict[str, Any]
    model_case_set: str | None = None
    artifacts: frozenset[str] = field(default_factory=frozenset)


def version_card(conn: sa.Connection, task: str, scope: str, version: int) -> ModelCard:
    """The card of version ``version`` of ``task`` in ``scope``.

    Raises:
        NotFound: there is no such version (a missing page: 404), or its run is gone.
        RegistryError: ``scope`` is not a scope.
    """
    scope = parse_scope(scope)
    find_model_version(conn, task, scope, version)
    return model_card(conn, task, scope, version)


def card_view(dash: Dashboard, conn: sa.Connection, task: str, scope: str, version: int,
              artifact: Callable[[str], str | None]) -> CardPage:
    """The card of version ``version`` of ``task`` in ``scope``; ``artifact`` links a
    workspace file (``links.artifact``) that the dashboard serves.

    Raises:
        NotFound: there is no such version, or its run is gone from the store.
        RegistryError: ``scope`` is not a scope.
    """
    card = version_card(conn, task, scope, version)
    linked: set[str] = set()

    def link(uri: str) -> str | None:
        if not served(dash.workspace.root, uri):
            return None
        linked.add(uri)
        return artifact(uri)

    text = card_context(card, link)
    pages = model_pages(conn, task, card.reference_case_set)
    return CardPage(card=card, text=text, model_case_set=pages.get(card.version.model_ref),
                    artifacts=frozenset(linked))
