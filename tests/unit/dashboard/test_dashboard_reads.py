"""What a leaderboard reads and computes: only the metric and label it shows, and only the site
it shows, with the same figures as ``medselect rank`` (the whole table, every site)."""

from __future__ import annotations

import pytest

from medselect.choose import ranking_inputs, task_ranking
from medselect.store import case_metric_table
from medselect.testing.sample import CASE_SET

RESAMPLES = 200
"""The dashboard tests' bootstrap size (conftest.settings_for)."""

FIGURES = ("model", "rank", "aggregate", "ci_low", "ci_high", "p_best", "p_vs_best",
           "standing", "n_cases", "n_patients")


def cli_board(ws, site: str | None, **question) -> list[tuple]:
    """The rows ``medselect rank --by site`` gives for ``site`` (None: all cases)."""
    with ws.connect() as conn:
        spec = task_ranking(conn, "knee").model_copy(update={
            **question, "weights": {}, "by": ["site"], "bootstrap_resamples": RESAMPLES})
        report = ranking_inputs(conn, "knee", CASE_SET).rank(spec)
    ranking = report.ranking if site is None else report.selections["site"].rankings[site]
    return [tuple(getattr(r, f) if f != "standing" else r.standing.value for f in FIGURES)
            for r in ranking.leaderboard.rows]


def shown(board: dict) -> list[tuple]:
    return [tuple(r[f] for f in FIGURES) for r in board["rows"]]


@pytest.mark.parametrize("site", ["south", None])
def test_a_board_is_the_one_medselect_rank_makes(client, sample_ws, site):
    question = {"metric": "hd95", "label": "mean", "aggregate": "p90"}
    board = client.get("/api/leaderboard", params={
        **question, **({"site": site} if site else {})}).json()
    expected = cli_board(sample_ws, site, **question)
    assert len(shown(board)) == len(expected) == 3
    for got, want in zip(shown(board), expected, strict=True):
        assert got == pytest.approx(want, nan_ok=True)


def test_a_board_reads_only_its_metric_and_label(fresh_ws, make_client):
    client = make_client(fresh_ws)
    dash = client.app.state.dashboard
    assert client.get("/api/leaderboard", params={"metric": "hd95", "label": "tibia",
                                                  "site": "north"}).status_code == 200
    inputs = [v for k, v in dash.tables._items.items() if k[0] == "inputs"]
    assert len(inputs) == 1
    table = inputs[0].table
    assert set(table["metric"]) == {"hd95"}
    assert set(table["label"]) == {"tibia", "mean"}  # the summary label is always read
    matrices = {k[2:] for k in dash.tables._items if k[0] == "matrix"}
    assert matrices == {("dice", "tibia")}  # the other metric's column, read alone


def test_the_others_column_is_the_metrics_own_aggregate(client, sample_ws):
    board = client.get("/api/leaderboard", params={"metric": "dice", "aggregate": "median",
                                                   "site": "north"}).json()
    with sample_ws.connect() as conn:
        table = case_metric_table(conn, case_set=CASE_SET, metrics=["hd95"], labels=["mean"])
    north = table[table["site"] == "north"]
    medians = north.groupby("model")["value"].median()
    for row in board["rows"]:
        if row["model"] != "run-002":  # its missing case is imputed with the worst value
            assert row["others"]["hd95"] == pytest.approx(medians[row["model"]])
