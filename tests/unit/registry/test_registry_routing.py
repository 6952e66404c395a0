"""champion_routes: each site to its own champion, else the global one with the reason said;
a fixed scope for every site; the errors that say which promotion is missing."""

from __future__ import annotations

import hashlib

import pytest
from registry_tables import BASE_DICE, TASK, criteria

from medselect.registry import RegistryError, canonical_json, promote_through_gate
from medselect.registry.routing import champion_routes
from medselect.store import list_audit_events


@pytest.fixture
def champions(ws, evaluate):
    """r1 champion of global, r2 champion of site:A (each the first version of its scope)."""
    evaluate("r1", dice=BASE_DICE)
    evaluate("r2", dice=BASE_DICE)
    for run, scope in (("r1", "global"), ("r2", "site:A")):
        promote_through_gate(ws, TASK, scope, run, criteria(min_patients=1), actor="alice")
    return ws


def test_auto_sends_each_site_to_its_champion_and_says_why_it_falls_back(champions):
    with champions.connect() as conn:
        routes = champion_routes(conn, "knee", ["A", "B", "default", "A"])
        promotions = {e["payload"]["scope"]: e["payload"]
                      for e in list_audit_events(conn, action="promote")}
    assert sorted(routes) == ["A", "B", "default"]
    assert (routes["A"].version.model_ref, routes["A"].scope, routes["A"].fallback) == (
        "r2", "site:A", None)
    assert (routes["B"].version.model_ref, routes["B"].scope) == ("r1", "global")
    assert routes["B"].fallback == ("site 'B' has no champion of its own, so the global "
                                    "champion predicted it")
    assert "names no site" in routes["default"].fallback
    for route in routes.values():  # the evidence id points at the row and the audit event
        evidence = route.evidence
        assert evidence["model_version_id"] == route.version.id
        assert evidence["decision_sha256"] == promotions[route.scope]["evidence_sha256"]
        assert evidence["decision_sha256"] == hashlib.sha256(
            canonical_json(dict(route.version.evidence)).encode()).hexdigest()
        assert evidence["decision_report"].endswith(f"-v{route.version.version}.html")


def test_a_fixed_scope_answers_for_every_site(champions):
    with champions.connect() as conn:
        routes = champion_routes(conn, "knee", ["A", "B"], "global")
        site = champion_routes(conn, "knee", ["A", "B"], "site:A")
    assert {r.version.model_ref for r in routes.values()} == {"r1"}
    assert {r.version.model_ref for r in site.values()} == {"r2"}
    assert all(r.fallback is None for r in [*routes.values(), *site.values()])


def test_a_missing_champion_names_the_promotion_that_fixes_it(champions):
    with champions.connect() as conn:
        with pytest.raises(RegistryError, match=r"no champion in scope 'site:B'.*`medselect "
                                                r"promote RUN --scope site:B`"):
            champion_routes(conn, "knee", ["A"], "site:B")
        with pytest.raises(RegistryError, match="unknown scope 'lyon'"):
            champion_routes(conn, "knee", ["A"], "lyon")
        assert champion_routes(conn, "knee", ["A"])["A"].scope == "site:A"  # needs no global
        with pytest.raises(RegistryError, match=r"task 'hip' has no champion in scope 'global'"
                                                r"; the cases of site 'A' need it .*`medselect "
                                                r"promote RUN`"):
            champion_routes(conn, "hip", ["A"])
