"""Scopes of the registry: a task has one champion everywhere (``global``) and may have one per
site (``site:<name>``), each judged on that site's reference cases. An experiment's
``promotion.scopes`` may also say ``per_site``: one scope for each site (:func:`expand_scopes`)."""

from __future__ import annotations

from collections.abc import Iterable

from medselect.errors import RegistryError

__all__ = ["GLOBAL_SCOPE", "PER_SITE", "SITE_PREFIX", "expand_scopes", "parse_scope", "scope_site"]

GLOBAL_SCOPE = "global"
SITE_PREFIX = "site:"


def parse_scope(scope: str) -> str:
    """``scope`` checked: ``global`` or ``site:<name>``.

    Raises:
        RegistryError: anything else (``per_site`` is expanded by the caller into one
            ``site:<name>`` scope per site).
    """
    text = str(scope).strip()
    if text == GLOBAL_SCOPE or (text.startswith(SITE_PREFIX) and text[len(SITE_PREFIX):].strip()):
        return text
    raise RegistryError(f"unknown scope {scope!r}; use 'global' or 'site:<name>'")


def scope_site(scope: str) -> str | None:
    """The site a scope is restricted to, or None for ``global``."""
    scope = parse_scope(scope)
    return scope[len(SITE_PREFIX):] if scope.startswith(SITE_PREFIX) else None


PER_SITE = "per_site"


def expand_scopes(scopes: Iterable[str], sites: Iterable[str]) -> list[str]:
    """The scopes a ``promotion.scopes`` list names, ``per_site`` replaced by one
    ``site:<name>`` scope per site in ``sites`` (sorted); each scope once, in order.

    Raises:
        RegistryError: a scope is neither ``per_site``, ``global`` nor ``site:<name>``.
    """
    out: list[str] = []
    for scope in scopes:
        if str(scope).strip() == PER_SITE:
            out += [f"{SITE_PREFIX}{site}" for site in sorted(set(sites))]
        else:
            out.append(parse_scope(scope))
    return list(dict.fromkeys(out))
