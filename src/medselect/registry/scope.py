"""Scopes of the registry: a task has one champion everywhere (``global``) and may have one per
site (``site:<name>``), each judged on that site's reference cases."""

from __future__ import annotations

from medselect.errors import RegistryError

__all__ = ["GLOBAL_SCOPE", "SITE_PREFIX", "parse_scope", "scope_site"]

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
