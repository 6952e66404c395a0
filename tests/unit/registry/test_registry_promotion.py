"""promote_through_gate on a small workspace whose models are already evaluated: the decision,
the version, the report files, and the refusals that come before any evaluation."""

from __future__ import annotations

import json

import pytest
from registry_tables import BASE_DICE, TASK, WOBBLE, criteria, shifted

from medselect.registry import (
    DECISIONS_DIR,
    RegistryError,
    current_champion,
    ensure_evaluated,
    history,
    promote_through_gate,
)
from medselect.registry.promotion import report_name
from medselect.store import put_external_model


@pytest.fixture
def evaluated(ws, evaluate):
    """r1 < r2 on every case of the reference set "ref"."""
    evaluate("r1", dice=BASE_DICE)
    evaluate("r2", dice=shifted(shifted(BASE_DICE, 0.05), WOBBLE))
    return ws


def _promote(ws, run, scope="global", **kwargs):
    return promote_through_gate(ws, TASK, scope, run, criteria(margin=0.01), actor="alice",
                                **kwargs)


def test_first_then_better_then_worse(evaluated):
    first = _promote(evaluated, "r1")
    assert first.promoted and first.first_version and not first.forced
    assert [r.name for r in first.decision.results] == ["min_patients"]
    json_path, html_path = first.report_paths
    assert json_path == evaluated.path(DECISIONS_DIR) / "knee-global-v1.json"
    assert json.loads(json_path.read_text())["outcome"]["status"] == "champion"
    assert "ACCEPTED" in html_path.read_text()

    better = _promote(evaluated, "r2")
    assert better.promoted and not better.first_version
    assert better.decision.incumbents == ("r1",) and better.version.version == 2

    worse = _promote(evaluated, "r1")
    assert not worse.promoted and worse.version.status == "rejected"
    assert worse.to_dict()["report"]["html"].endswith("knee-global-v3.html")
    assert "REJECTED" in worse.report_paths[1].read_text()
    with evaluated.connect() as conn:
        assert current_champion(conn, "knee", "global").model_ref == "r2"


def test_forced_promotion_is_marked(evaluated):
    _promote(evaluated, "r2")
    forced = _promote(evaluated, "r1", force_reason="the site asked for it")
    assert forced.promoted and forced.forced and not forced.decision.accepted
    assert forced.version.reason == "the site asked for it"


def test_refusals_come_before_any_evaluation(evaluated):
    with pytest.raises(RegistryError, match="is failed"):
        _promote(evaluated, "rfail")
    _promote(evaluated, "r1")
    with pytest.raises(RegistryError, match="already the champion"):
        _promote(evaluated, "r1")
    with evaluated.connect() as conn:
        assert [v.model_ref for v in history(conn, "knee")] == ["r1"]


def test_an_external_model_without_a_reference_evaluation_is_refused(evaluated):
    with evaluated.begin() as conn:
        put_external_model(conn, {"name": "nnunet", "task": "knee"})
    with pytest.raises(RegistryError, match="cannot be re-run"):
        _promote(evaluated, "external:nnunet")


def test_ensure_evaluated_finds_what_is_there(evaluated):
    assert ensure_evaluated(evaluated, TASK, "ref", ["r1", "r2"], metrics=["dice"]) == {
        "r1": "e-r1-ref", "r2": "e-r2-ref"}


def test_site_scopes_get_their_own_report(evaluated):
    outcome = _promote(evaluated, "r2", scope="site:A")
    assert outcome.decision.n_cases == 6  # site A's reference cases only
    assert report_name(outcome.version) == "knee-site-A-v1"
    assert outcome.report_paths[0].name == "knee-site-A-v1.json"


def test_promotion_inputs_name_an_unknown_model(tmp_path):
    from medselect.registry import RegistryError, promotion_inputs
    from medselect.store import Workspace

    ws = Workspace.create(tmp_path / "ws")
    with pytest.raises(RegistryError, match="'run-nope' is not a run or external model"):
        promotion_inputs(ws, "run-nope")
    ws.dispose()
