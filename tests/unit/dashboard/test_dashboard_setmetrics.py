"""Set metrics (AUC, balanced accuracy, ...) on the dashboard of a classification workspace.

They have no value per case: the catalog lists them with their source's labels, the
leaderboard ranks by them (their own aggregate, paired bootstrap test), shows them beside other
metrics, and the model page shows each with its bootstrap interval; per-case pages refuse them.
"""

from __future__ import annotations

import re
from html import unescape

import pytest

from medselect.config import RankingSpec
from medselect.dashboard import export_static
from medselect.testing.sample import build_sample_workspace


@pytest.fixture(scope="module")
def cls_ws(tmp_path_factory):
    ws = build_sample_workspace(tmp_path_factory.mktemp("cls") / "ws", kind="classification")
    yield ws
    ws.dispose()


@pytest.fixture(scope="module")
def cls_client(cls_ws, make_client):
    return make_client(cls_ws)


def test_catalog_lists_set_metrics_with_their_sources_labels(cls_client):
    metrics = {m["name"]: m for m in cls_client.get("/api/leaderboard").json()["metrics"]}
    assert list(metrics) == ["probability", "correct", "class_probability", "auc",
                             "balanced_accuracy", "sensitivity_at_threshold",
                             "specificity_at_threshold", "ece"]
    auc = metrics["auc"]
    assert (auc["labels"], auc["default_label"]) == (["normal", "thinning"], "thinning")
    assert (auc["per_case"], auc["source"]) == (False, "class_probability")
    assert metrics["balanced_accuracy"]["labels"] == ["case"]
    assert metrics["ece"]["direction"] == "lower"
    assert metrics["probability"]["per_case"] is True


def test_leaderboard_by_auc_has_intervals_and_the_bootstrap_test(cls_client):
    board = cls_client.get("/api/leaderboard", params={"metric": "auc",
                                                       "aggregate": "median"}).json()
    assert (board["metric"], board["label"], board["aggregate"]) == ("auc", "thinning", "auc")
    assert board["aggregate_fixed"] is True and board["per_case_aggregate"] == "mean"
    assert board["test"] == "bootstrap"  # whatever the rules' test: no per-case values
    rows = board["rows"]
    assert [r["rank"] for r in rows] == [1, 2, 3]
    assert all(0 <= r["ci_low"] <= r["aggregate"] <= r["ci_high"] <= 1 for r in rows)
    assert rows[0]["aggregate"] >= rows[-1]["aggregate"]
    assert rows[1]["p_vs_best"] is not None
    others = rows[0]["others"]
    assert {"sensitivity_at_threshold", "specificity_at_threshold", "ece"} <= set(others)
    assert all(0 <= others[m] <= 1 for m in ("sensitivity_at_threshold", "ece"))
    sig = cls_client.get("/api/leaderboard/significance", params={"metric": "auc"}).json()
    assert sig["test"] == "bootstrap" and sig["models"] == [r["model"] for r in rows]


def test_set_metrics_as_other_columns_of_a_per_case_board(cls_client):
    board = cls_client.get("/api/leaderboard", params={"metric": "probability",
                                                       "aggregate": "median"}).json()
    assert board["aggregate"] == "median" and not board["aggregate_fixed"]
    assert board["test"] == RankingSpec().test  # the ranking rules' (the default ones here)
    assert board["other_metrics"] == ["correct", "balanced_accuracy"]
    by_auc = cls_client.get("/api/leaderboard", params={"metric": "balanced_accuracy"}).json()
    expected = {r["model"]: r["aggregate"] for r in by_auc["rows"]}
    assert {r["model"]: r["others"]["balanced_accuracy"] for r in board["rows"]} == expected
    html = cls_client.get("/", params={"metric": "probability", "aggregate": "median"}).text
    assert ">median correct</th>" in html and ">balanced_<wbr>accuracy</th>" in html


def test_leaderboard_page_shows_the_aggregate_as_fixed(cls_client):
    html = cls_client.get("/", params={"metric": "auc"}).text
    assert "auc over all cases" in html and "fixed: auc is a set metric" in html
    links = [unescape(h) for h in re.findall(r'href="([^"]+)"', html)]
    assert not [h for h in links if "metric=auc" in h and "aggregate=" in h]
    assert "/?case_set=dv-sample-test&metric=auc&label=normal" in links
    assert "/?case_set=dv-sample-test&metric=probability&label=case" in links
    assert 'title="auc (thinning), higher is better">auc</th>' in html and "auc auc" not in html
    assert "paired bootstrap test" in html
    assert 'name="metric" value="auc"' not in html  # compare shows per-case values
    for link in set(links):
        if link.startswith("/") and not link.startswith("/static"):
            assert cls_client.get(link).status_code == 200, link


def test_model_page_shows_set_metrics_with_intervals(cls_client):
    page = cls_client.get("/api/models/run-000").json()
    values = {(v["metric"], v["label"]): v for v in page["summaries"] if not v["per_case"]}
    assert set(values) == {(m, c) for m in ("auc", "sensitivity_at_threshold",
                                            "specificity_at_threshold", "ece")
                           for c in ("normal", "thinning")} | {("balanced_accuracy", "case")}
    board = cls_client.get("/api/leaderboard", params={"metric": "auc"}).json()
    row = next(r for r in board["rows"] if r["model"] == "run-000")
    auc = values[("auc", "thinning")]
    assert (auc["value"], auc["ci_low"], auc["ci_high"]) == pytest.approx((
        row["aggregate"], row["ci_low"], row["ci_high"]), rel=1e-9)  # the same resamples
    assert (auc["n_cases"], auc["n_patients"]) == (12, 10)
    assert {d["metric"] for d in page["distributions"]} == {"probability", "correct"}
    html = cls_client.get("/models/run-000").text
    assert 'id="metric-summary"' in html and "12 cases of 10 patients" in html
    assert '<tr data-metric="auc">' in html and '<td class="num" data-label="thinning">' in html
    assert "chart-box-auc" not in html and "chart-box-probability" in html


def test_per_case_pages_refuse_a_set_metric(cls_client):
    for url in ("/api/compare", "/api/cases/case-0001"):
        response = cls_client.get(url, params={"metric": "auc"})
        assert response.status_code == 400
        assert "auc" in response.json()["detail"] and "per case" in response.json()["detail"]
    response = cls_client.get("/api/models/run-000/cases", params={"sort": "auc"})
    assert response.status_code == 404


def test_static_export_writes_one_board_per_set_metric_label_and_site(cls_ws, tmp_path):
    report = export_static(cls_ws, tmp_path / "report", n_resamples=20).parent
    boards = {p.name for p in (report / "leaderboard").iterdir()}
    assert {n for n in boards if n.startswith("auc-")} == {
        f"auc-{label}-mean-{site}.html" for label in ("normal", "thinning")
        for site in ("all", "north", "south")} - {"auc-thinning-mean-all.html"}  # index.html
    index = (report / "index.html").read_text()
    assert "auc over all cases" in index
