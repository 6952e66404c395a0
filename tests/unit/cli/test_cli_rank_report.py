"""``medselect rank`` and ``medselect report`` on a sample workspace (no training)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from medselect.store import add_review
from medselect.testing.sample import CASE_SET, build_sample_workspace, case_name


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    root = tmp_path_factory.mktemp("sample") / "ws"
    build_sample_workspace(root, n_models=4, n_cases=20).dispose()
    return root


def test_rank_json_has_leaderboard_statistics_and_site_selection(run_cli, sample):
    result = run_cli("rank", "-w", sample, "--cases", "test", "--by", "site", "--json",
                     "--resamples", 200)
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    board = report["ranking"]["leaderboard"]
    assert board["metric"] == "dice" and board["direction"] == "higher"
    assert [r["rank"] for r in board["rows"]] == [1, 2, 3, 4]
    assert all(r["ci_low"] <= r["aggregate"] <= r["ci_high"] for r in board["rows"])
    assert all(r["n_patients"] <= r["n_cases"] for r in board["rows"])
    assert {r["standing"] for r in board["rows"]} <= {
        "best", "tied", "equivalent", "unresolved", "worse"}
    assert "missing_values" in board and report["significance"]
    assert {c["group"] for c in report["selections"]["site"]["choices"]} == {"north", "south"}
    # chosen and reported on the same set: the figure comes bias-corrected
    assert report["same_set"] and report["confirmation"][0]["corrected"]["method"]


def test_rank_prints_patients_standings_and_the_same_set_warning(run_cli, sample):
    result = run_cli("rank", "-w", sample, "--cases", "test", "--resamples", 200)
    assert result.code == 0, result.stderr
    out = " ".join(result.stdout.split())
    assert "patients" in out and "standing" in out
    assert "is biased upwards by the choice" in out and "bias-corrected" in out


def test_rank_lower_is_better_metric_and_percentile(run_cli, sample):
    result = run_cli("rank", "-w", sample, "--cases", "test", "--metric", "hd95",
                     "--agg", "p90", "--csv", "--resamples", 100)
    assert result.code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    values = [float(r["aggregate"]) for r in rows]
    assert values == sorted(values)  # lower is better: best first


def test_rank_preference_file_applies_constraints(run_cli, sample, tmp_path):
    prefs = tmp_path / "prefs.yaml"
    prefs.write_text("ranking:\n  metric: dice\n  constraints: ['dice >= 0.8']\n")
    result = run_cli("rank", "-w", sample, "--cases", "test", "--prefer", prefs, "--json",
                     "--resamples", 100)
    assert result.code == 0, result.stderr
    ranking = json.loads(result.stdout)["ranking"]
    assert ranking["excluded"]  # the weaker models fail the constraint
    assert all(r["aggregate"] >= 0.8 for r in ranking["leaderboard"]["rows"])


def test_rank_unknown_metric_is_a_one_line_error(run_cli, sample):
    result = run_cli("rank", "-w", sample, "--cases", "test", "--metric", "hd96")
    assert result.code == 1 and "did you mean 'hd95'" in result.stderr


def test_report_writes_a_static_folder(run_cli, sample, tmp_path):
    result = run_cli("report", "-w", sample, "--out", tmp_path / "out")
    assert result.code == 0, result.stderr
    index = tmp_path / "out" / "index.html"
    assert index.is_file() and "run-000" in index.read_text()
    assert 'id="choice"' in index.read_text()  # the choice and its figure, as `rank` gives it
    listed = json.loads(run_cli("report", "-w", sample, "--out", tmp_path / "out",
                                "--json").stdout)
    assert listed["index"] == str(index) and "index.html" in listed["pages"]
    assert any(page.startswith("models/") for page in listed["pages"])


def test_serve_refuses_a_missing_workspace(run_cli, tmp_path):
    result = run_cli("serve", "-w", tmp_path / "nothing")
    assert result.code == 1 and "no medselect workspace" in result.stderr


def test_report_replaces_an_old_report_whole_and_spares_other_folders(run_cli, sample, tmp_path):
    out = tmp_path / "out"
    assert run_cli("report", "-w", sample, "--out", out).code == 0
    (out / "stale.html").write_text("from an older report")
    assert run_cli("report", "-w", sample, "--out", out).code == 0
    assert not (out / "stale.html").exists() and (out / "index.html").is_file()
    assert not list(tmp_path.glob(".out.*"))  # no staging folder left behind
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    result = run_cli("report", "-w", sample, "--out", other)
    assert result.code == 1 and "not a medselect report" in result.stderr
    assert (other / "notes.txt").read_text() == "keep me"


def test_rank_by_site_prints_margins_with_intervals_and_the_verdict(run_cli, sample):
    result = run_cli("rank", "-w", sample, "--cases", "test", "--by", "site", "--resamples",
                     200)
    assert result.code == 0, result.stderr
    out = " ".join(result.stdout.split())
    # the sample's two equally good models cannot be told apart on 9 patients a site
    assert "the evidence is too thin to tell at site" in out
    assert "thin evidence: site north: run-00" in out and "cannot be told apart" in out
    report = json.loads(run_cli("rank", "-w", sample, "--cases", "test", "--by", "site",
                                "--json", "--resamples", 200).stdout)
    for c in report["selections"]["site"]["choices"]:
        assert c["margin_ci_low"] <= c["margin"] <= c["margin_ci_high"]


def test_rank_by_acceptance_needs_reviews_and_says_who_was_not_reviewed(run_cli, tmp_path):
    root = tmp_path / "ws"
    ws = build_sample_workspace(root)
    result = run_cli("rank", "-w", root, "--metric", "acceptance", "--resamples", 100)
    assert result.code == 1
    assert "no prediction of these cases was reviewed yet" in result.stderr
    with ws.begin() as conn:
        for i in range(6):
            add_review(conn, model_ref="run-001", case_set=CASE_SET, case_id=case_name(i),
                       reviewer="dr. ada", verdict="acceptable" if i % 3 else "not_acceptable")
    ws.dispose()
    result = run_cli("rank", "-w", root, "--metric", "acceptance", "--json", "--resamples",
                     100)
    assert result.code == 0, result.stderr
    board = json.loads(result.stdout)["ranking"]["leaderboard"]
    assert board["rows"][0]["model"] == "run-001"
    assert board["rows"][0]["aggregate"] == pytest.approx(4 / 6)
    assert board["n_cases"] == 6  # the reviewed cases
    assert any("acceptance is undefined for run-000, run-002" in n for n in board["notes"])
    text = run_cli("rank", "-w", root, "--metric", "acceptance", "--resamples", 100).stdout
    assert "acceptance is undefined for run-000, run-002" in " ".join(text.split())
