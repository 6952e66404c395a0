"""A running dashboard never shows numbers older than the store's: after a re-evaluation (as
``medselect evaluate`` records one), a newer evaluation, or the removal of a case set of new
cases, its boards are those a newly started app shows."""

from __future__ import annotations

from medselect.store import (
    case_metrics_stamp,
    put_evaluation,
    remove_new_case_set,
    replace_case_metrics,
)
from medselect.testing.sample import CASE_SET, VERSION, case_name

N_CASES = 12
"""The sample's test cases (conftest: ``build_sample_workspace`` defaults); the values below
are binary fractions, so their means are exact."""


def figures(client, **params) -> list[tuple]:
    board = client.get("/api/leaderboard", params=params)
    assert board.status_code == 200, board.text
    return [(r["model"], r["rank"], r["aggregate"], r["ci_low"], r["ci_high"],
             r["others"].get("hd95")) for r in board.json()["rows"]]


def dice_rows(value: float) -> list[dict]:
    return [{"case_id": case_name(i), "metric": metric, "label": "mean", "value": value}
            for i in range(N_CASES) for metric in ("dice", "hd95")]


def test_a_reevaluation_and_a_newer_evaluation_reach_a_running_app(fresh_ws, make_client):
    client = make_client(fresh_ws)
    before = figures(client)
    site = figures(client, metric="hd95", aggregate="p90", site="north")
    with fresh_ws.begin() as conn:  # `medselect evaluate` again: running, then finished
        put_evaluation(conn, {"id": "ev-run-002", "status": "running"})
    with fresh_ws.begin() as conn:
        put_evaluation(conn, {"id": "ev-run-002", "status": "finished", "duration_s": 2.5})
        replace_case_metrics(conn, "ev-run-002", dice_rows(0.96875))
    again = figures(client)
    assert again != before and again[0][:3] == ("run-002", 1, 0.96875)
    assert again == figures(make_client(fresh_ws))
    assert figures(client, metric="hd95", aggregate="p90", site="north") != site

    with fresh_ws.begin() as conn:  # a newer evaluation of run-001
        put_evaluation(conn, {"id": "ev-run-001-b", "model_ref": "run-001",
                              "case_set": CASE_SET, "dataset_version": VERSION,
                              "status": "finished", "duration_s": 1.0})
        replace_case_metrics(conn, "ev-run-001-b", dice_rows(0.984375))
    newest = figures(client)
    assert newest[0][:3] == ("run-001", 1, 0.984375)
    assert newest == figures(make_client(fresh_ws))


def test_a_removed_case_set_is_no_longer_shown(fresh_ws, make_client, new_cases):
    client = make_client(fresh_ws)
    case_set = new_cases(fresh_ws, "upload-a", labelled=True, n_cases=3)
    assert len(figures(client, case_set=case_set)) == 3
    with fresh_ws.begin() as conn:
        remove_new_case_set(conn, case_set)
    assert client.get("/api/leaderboard", params={"case_set": case_set}).status_code == 404
    assert figures(client) == figures(make_client(fresh_ws))


def test_values_replaced_under_the_same_id_status_and_duration_reach_a_running_app(
        fresh_ws, make_client):
    """The evaluation's row does not change (same id, status and duration: e.g. a metric
    recomputed in place): the stamp the write leaves must still re-key every board."""
    client = make_client(fresh_ws)
    before = figures(client)
    site = figures(client, metric="hd95", aggregate="p90", site="north")
    with fresh_ws.begin() as conn:
        replace_case_metrics(conn, "ev-run-002", dice_rows(0.96875))
    again = figures(client)
    assert again != before and again[0][:3] == ("run-002", 1, 0.96875)
    assert again == figures(make_client(fresh_ws))
    assert figures(client, metric="hd95", aggregate="p90", site="north") != site


def test_each_write_of_a_case_sets_values_leaves_a_new_stamp(fresh_ws):
    with fresh_ws.connect() as conn:
        first = case_metrics_stamp(conn, CASE_SET)
    with fresh_ws.begin() as conn:
        replace_case_metrics(conn, "ev-run-002", dice_rows(0.5))
        second = case_metrics_stamp(conn, CASE_SET)
        replace_case_metrics(conn, "ev-run-002", dice_rows(0.5))
        assert None not in (first, second) and len({first, second,
                                                    case_metrics_stamp(conn, CASE_SET)}) == 3
        assert case_metrics_stamp(conn, "no-such-set") is None


def test_only_a_frozen_dashboard_looks_a_scope_up_once(fresh_ws):
    """A static export (a frozen dashboard) renders hundreds of pages of one state, so it
    resolves a case set's scope once; a live one resolves it per request and sees a change."""
    from medselect.dashboard import DashboardSettings
    from medselect.dashboard.context import Dashboard
    from medselect.dashboard.queries import scope_of

    settings = DashboardSettings(workspace=fresh_ws.root)
    frozen = Dashboard(fresh_ws, settings, frozen=True)
    live = Dashboard(fresh_ws, settings)
    with fresh_ws.connect() as conn:
        first = scope_of(frozen, conn, CASE_SET), scope_of(live, conn, CASE_SET)
    with fresh_ws.begin() as conn:
        replace_case_metrics(conn, "ev-run-002", dice_rows(0.5))
    with fresh_ws.connect() as conn:
        assert scope_of(frozen, conn, CASE_SET) is first[0]
        assert scope_of(live, conn, CASE_SET).key != first[1].key
