"""The experts' acceptance rate ranks like any metric, with its interval over the reviewed
cases, on the dashboard exactly as ``medselect rank --metric acceptance`` ranks it; a model
nobody reviewed says so; a new review re-ranks at once."""

from __future__ import annotations

import json
import math
from dataclasses import asdict

import pytest

from medselect.choose import choose_model, task_ranking
from medselect.store import add_review
from medselect.testing.sample import CASE_SET, case_name

ACCEPTED = {"run-000": [1, 1, 1, 0, 1, 1, 1, 1], "run-001": [1, 0, 1, 0, 0, 1, 1, 0]}
"""Verdicts (1 acceptable) of one reviewer on the first 8 test cases; run-002 is never
reviewed."""


def figures(row: dict) -> tuple:
    """A leaderboard row's model, value, interval and standing (NaN as None, as JSON has it)."""
    def clean(value):
        return None if value is None or math.isnan(value) else pytest.approx(value)
    standing = row["standing"]
    return (row["model"], clean(row["aggregate"]), clean(row["ci_low"]), clean(row["ci_high"]),
            getattr(standing, "value", standing))


def review(ws, model: str, case: int, accepted: bool, reviewer: str = "dr. ada") -> None:
    with ws.begin() as conn:
        add_review(conn, model_ref=model, case_set=CASE_SET, case_id=case_name(case),
                   reviewer=reviewer, verdict="acceptable" if accepted else "not_acceptable")


@pytest.fixture
def reviewed(fresh_ws):
    for model, verdicts in ACCEPTED.items():
        for case, accepted in enumerate(verdicts):
            review(fresh_ws, model, case, bool(accepted))
    return fresh_ws


def test_acceptance_is_offered_only_once_something_was_reviewed(fresh_client):
    board = fresh_client.get("/api/leaderboard").json()
    assert "acceptance" not in [m["name"] for m in board["metrics"]]
    response = fresh_client.get("/api/leaderboard", params={"metric": "acceptance"})
    assert response.status_code == 404 and "dice, hd95" in response.json()["detail"]


def test_the_leaderboard_ranks_by_acceptance_with_an_interval(reviewed, make_client):
    client = make_client(reviewed)
    board = client.get("/api/leaderboard", params={"metric": "acceptance"}).json()
    assert (board["metric"], board["label"], board["aggregate"]) == (
        "acceptance", "case", "acceptance")
    assert board["aggregate_fixed"] and board["direction"] == "higher"
    rows = {r["model"]: r for r in board["rows"]}
    assert [r["model"] for r in board["rows"]] == ["run-000", "run-001", "run-002"]
    assert rows["run-000"]["aggregate"] == pytest.approx(7 / 8)
    assert rows["run-001"]["aggregate"] == pytest.approx(4 / 8)
    assert rows["run-000"]["ci_low"] < 7 / 8 < rows["run-000"]["ci_high"]
    assert board["n_cases"] == 8  # the reviewed cases, not all 12
    # the model nobody reviewed: no value, no interval, every case missing, and said so
    assert (rows["run-002"]["aggregate"], rows["run-002"]["ci_low"]) == (None, None)
    assert rows["run-002"]["n_imputed"] == 8
    assert any("acceptance is undefined for run-002" in n for n in board["notes"])
    assert board["missing_values"].startswith("are left out")
    html = client.get("/", params={"metric": "acceptance"}).text
    assert "not reviewed</span>" in html and "<th" in html
    # beside it, the other metrics at their mean over classes
    assert board["other_metrics"] == ["dice", "hd95"]
    assert board["other_labels"] == {"dice": "mean", "hd95": "mean"}


def test_the_dashboard_ranks_acceptance_as_medselect_rank_does(reviewed, make_client,
                                                               run_cli):
    client = make_client(reviewed, n_resamples=None)  # the rules' own bootstrap
    board = client.get("/api/leaderboard", params={"metric": "acceptance"}).json()
    with reviewed.connect() as conn:
        spec = task_ranking(conn, "knee").model_copy(update={"metric": "acceptance"})
        made = choose_model(conn, "knee", spec).report.leaderboard
    assert [figures(r) for r in board["rows"]] == [figures(asdict(r)) for r in made.rows]
    result = run_cli("rank", "-w", reviewed.root, "--metric", "acceptance", "--json")
    assert result.code == 0, result.stderr
    cli = json.loads(result.stdout)["ranking"]["leaderboard"]
    assert [figures(r) for r in cli["rows"]] == [figures(r) for r in board["rows"]]


def test_a_new_review_re_ranks_at_once(reviewed, make_client):
    client = make_client(reviewed)
    before = client.get("/api/leaderboard", params={"metric": "acceptance"}).json()
    dice = client.get("/api/leaderboard").json()
    for case in range(8):  # run-001's rejections overturned by a second reviewer
        review(reviewed, "run-001", case, True, reviewer="dr. bo")
    after = client.get("/api/leaderboard", params={"metric": "acceptance"}).json()
    rate = {r["model"]: r["aggregate"] for r in after["rows"]}
    assert rate["run-001"] == pytest.approx((4 / 8 + 1) / 2)  # the mean share per case
    assert rate != {r["model"]: r["aggregate"] for r in before["rows"]}
    again = client.get("/api/leaderboard").json()  # other boards keep their ranking
    assert [figures(r) for r in again["rows"]] == [figures(r) for r in dice["rows"]]


def test_a_sites_board_ranks_the_acceptance_of_its_reviewed_cases(reviewed, make_client):
    client = make_client(reviewed)
    reviewed_sites = {r["site"] for r in client.get("/api/models/run-000/cases",
                                                      params={"page_size": 12}).json()["rows"]
                      if r["acceptance"]["reviewed"]}
    assert reviewed_sites == {"north", "south"}
    response = client.get("/api/leaderboard", params={"metric": "acceptance", "site": "north"})
    assert response.status_code == 200
    assert response.json()["rows"][0]["n_cases"] < 8


def test_a_site_without_reviews_says_so(fresh_ws, make_client):
    review(fresh_ws, "run-000", 0, True)  # case-0000 is at site north
    client = make_client(fresh_ws)
    response = client.get("/api/leaderboard", params={"metric": "acceptance", "site": "south"})
    assert response.status_code == 400
    assert "cannot rank the models at site south" in response.json()["detail"]
    assert "no prediction there was reviewed" in response.json()["detail"]
