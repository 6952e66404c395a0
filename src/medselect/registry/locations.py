"""Where the registry writes its files, relative to the workspace: decision reports and model
cards, one of each per promoted version, named so that a person finds them by task, scope and
version number.

    registry/decisions/<task>-<scope>-v<N>.json / .html     the gate decision
    registry/cards/<task>/<scope folder>/v<N>.md / .html     the model card
"""

from __future__ import annotations

import re

from medselect.registry.scope import parse_scope, scope_site
from medselect.registry.versions import ModelVersion

__all__ = ["CARDS_DIR", "DECISIONS_DIR", "card_uri", "decision_report_uri", "report_name",
           "scope_folder"]

DECISIONS_DIR = "registry/decisions"
CARDS_DIR = "registry/cards"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def report_name(version: ModelVersion) -> str:
    """File name (without suffix) of a version's decision report: ``<task>-<scope>-v<N>``,
    with characters other than letters, digits, ``.``, ``_`` and ``-`` replaced by ``-``."""
    return _UNSAFE.sub("-", f"{version.task}-{version.scope}-v{version.version}")


def decision_report_uri(version: ModelVersion) -> str:
    """Where the version's decision report (HTML) is written, relative to the workspace
    (it exists only for versions promoted through :func:`~.promotion.promote_through_gate`)."""
    return f"{DECISIONS_DIR}/{report_name(version)}.html"


def scope_folder(scope: str) -> str:
    """A folder name for a scope: ``global``, or ``site-<name>`` with characters other than
    letters, digits, ``.``, ``_`` and ``-`` replaced by ``-``."""
    site = scope_site(scope)
    return parse_scope(scope) if site is None else _UNSAFE.sub("-", f"site-{site}")


def card_uri(version: ModelVersion, suffix: str = ".html") -> str:
    """Where the version's model card is written (``.md`` or ``.html``)."""
    task = _UNSAFE.sub("-", version.task)
    return f"{CARDS_DIR}/{task}/{scope_folder(version.scope)}/v{version.version}{suffix}"
