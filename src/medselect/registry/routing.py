"""Which champion answers a case: the champion of the case's site, else the global one.

A hospital predicts with the model the registry chose for it. With scope ``auto`` a case of site
``lyon`` goes to the champion of ``site:lyon`` when that scope has one, and otherwise to the
``global`` champion, with the reason said (the site has no champion, or the case names no
site); a fixed scope (``global``, ``site:NAME``) sends every case to that scope's champion.
Each :class:`Route` carries the evidence that made its version champion, so a prediction can be
traced to the gate decision behind it.

Example::

    with ws.connect() as conn:
        routes = champion_routes(conn, "knee", ["lyon", "default"])
    routes["lyon"].version.model_ref, routes["default"].fallback
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import sqlalchemy as sa

from medselect.data.caseinfo import DEFAULT_SITE
from medselect.errors import RegistryError
from medselect.registry.audit import canonical_json
from medselect.registry.locations import decision_report_uri
from medselect.registry.scope import GLOBAL_SCOPE, SITE_PREFIX, parse_scope
from medselect.registry.versions import ModelVersion, current_champion
from medselect.store import get_run
from medselect.store.evaluations import EXTERNAL_PREFIX

__all__ = ["AUTO_SCOPE", "Route", "champion_of", "champion_routes", "evidence_id", "trained_run"]

AUTO_SCOPE = "auto"
"""Each case to its site's champion, falling back to the global champion."""


@dataclass(frozen=True)
class Route:
    """The registered version that predicts the cases of one site.

    Attributes:
        site: the cases' site (``default`` when they name none).
        version: the champion that predicts them.
        fallback: why a site's own champion is not used (None when it is, or when a fixed
            scope was asked for).
    """

    site: str
    version: ModelVersion
    fallback: str | None = None

    @property
    def scope(self) -> str:
        return self.version.scope

    @cached_property
    def evidence(self) -> dict[str, Any]:
        """What made the version champion: :func:`evidence_id` (hashed once per route)."""
        return evidence_id(self.version)


def evidence_id(version: ModelVersion) -> dict[str, Any]:
    """The registry row and gate decision behind a version: its ``model_version`` row id, the
    SHA-256 of its stored decision (the ``evidence_sha256`` of its audit event) and where its
    decision report is written, relative to the workspace."""
    digest = hashlib.sha256(canonical_json(dict(version.evidence)).encode()).hexdigest()
    return {"model_version_id": version.id, "decision_sha256": digest,
            "decision_report": decision_report_uri(version)}


def champion_routes(conn: sa.Connection, task: str, sites: Iterable[str],
                    scope: str = AUTO_SCOPE) -> dict[str, Route]:
    """The route of every site in ``sites``.

    Args:
        scope: ``auto`` (each site's champion, else the global one), ``global`` or
            ``site:NAME`` (that scope's champion for every site).

    Raises:
        RegistryError: the scope is unknown, or a scope that must answer has no champion (the
            message says which ``medselect promote`` fixes it).
    """
    wanted = sorted(set(sites))
    if scope != AUTO_SCOPE:
        try:
            scope = parse_scope(scope)
        except RegistryError:
            raise RegistryError(f"unknown scope {scope!r}; use 'auto' (each case's site "
                                "champion, else the global one), 'global' or 'site:<name>'"
                                ) from None
        champion = champion_of(conn, task, scope)
        return {site: Route(site, champion) for site in wanted}
    own = {site: current_champion(conn, task, f"{SITE_PREFIX}{site}")
           for site in wanted if site != DEFAULT_SITE}
    orphans = [site for site in wanted if own.get(site) is None]
    fallback = champion_of(conn, task, GLOBAL_SCOPE, orphans) if orphans else None
    return {site: Route(site, own[site]) if own.get(site) is not None
            else Route(site, fallback, _why_global(site)) for site in wanted}


def champion_of(conn: sa.Connection, task: str, scope: str,
                needed_by: Sequence[str] = ()) -> ModelVersion:
    """The champion of ``task`` in ``scope``.

    Args:
        needed_by: the sites whose cases need it, named in the error.

    Raises:
        RegistryError: the scope has no champion (the message names the ``medselect promote``
            that gives it one).
    """
    champion = current_champion(conn, task, scope)
    if champion is not None:
        return champion
    flag = "" if scope == GLOBAL_SCOPE else f" --scope {scope}"
    needs = f"; the cases of {_listed(needed_by)} need it (no champion of their own)" \
        if needed_by else ""
    raise RegistryError(f"task {task!r} has no champion in scope {scope!r}{needs}; promote one "
                        f"with `medselect promote RUN{flag}` (`medselect registry show` lists "
                        "the champions)")


def trained_run(conn: sa.Connection, version: ModelVersion) -> dict[str, Any]:
    """The ``run`` row of a version, whose network medselect can load.

    Raises:
        RegistryError: the version is a model made elsewhere (predictions only, no network).
    """
    ref = version.model_ref
    if ref.startswith(EXTERNAL_PREFIX):
        raise RegistryError(f"the champion of task {version.task!r} in scope {version.scope!r} "
                            f"(v{version.version}) is {ref!r}, predictions made elsewhere: "
                            "medselect has no network of it to run or export; promote a "
                            f"trained run there (`medselect promote RUN --scope {version.scope}`)")
    return get_run(conn, ref)


def _why_global(site: str) -> str:
    if site == DEFAULT_SITE:
        return ("the case names no site (none was given for it), so the global champion "
                "predicted it")
    return f"site {site!r} has no champion of its own, so the global champion predicted it"


def _listed(sites: Sequence[str]) -> str:
    names = ["cases without a site" if s == DEFAULT_SITE else f"site {s!r}" for s in sites]
    return ", ".join(names)

