"""A classification experiment end to end: train two image-level models on the phantom's
thinning grade, evaluate them per case, rank them by the probability of the true class."""

from __future__ import annotations

import json
import math

import pytest

from medselect.metrics import CASE_LABEL
from medselect.store import Workspace, case_metric_table, get_predictions

pytestmark = pytest.mark.slow


def classification_experiment(folder):
    path = folder / "classification.yaml"
    path.write_text("""
task: {name: knee-thinning, kind: classification, spatial_dims: 2, classes: [normal, thinning]}
data: {source: {kind: phantom, cases_per_site: 4, size: 32, seed: 0}}
sweep:
  name: cls
  strategy: grid
  space: {architecture: [resnet18, densenet121], loss: ce, epochs: 1, batch_size: 4,
          input_size: [32, 32], features: 4}
  workers: 1
  threads_per_worker: 1
""")
    return path


def test_classification_trains_evaluates_and_ranks(run_cli, tmp_path):
    exp, ws_dir = classification_experiment(tmp_path), tmp_path / "ws"
    trained = run_cli("sweep", "run", exp, "-w", ws_dir, "--executor", "inprocess", "--json")
    assert trained.code == 0, trained.stderr + trained.stdout
    report = json.loads(trained.stdout)
    assert report["counts"] == {"finished": 2} and report["total"] == 2

    evaluated = run_cli("evaluate", exp, "-w", ws_dir, "--json")
    assert evaluated.code == 0, evaluated.stderr + evaluated.stdout
    report = json.loads(evaluated.stdout)
    assert [m["status"] for m in report["models"]] == ["finished", "finished"]
    assert {m["key_metric"] for m in report["models"]} == {"probability"}
    assert all(0 <= m["key_value"] <= 1 for m in report["models"])

    ws = Workspace.open(ws_dir)
    with ws.connect() as conn:
        table = case_metric_table(conn, case_set=report["case_set"])
        rows = get_predictions(conn, report["models"][0]["evaluation_id"])
    # every test case x model has one probability and one correct row, label "case"
    assert set(table["metric"]) == {"probability", "correct"}
    assert set(table["label"]) == {CASE_LABEL}
    for metric in ("probability", "correct"):
        assert len(table[table["metric"] == metric]) == 2 * report["n_cases"]
    assert table[table["metric"] == "probability"]["value"].between(0, 1).all()
    assert set(table[table["metric"] == "correct"]["value"]) <= {0.0, 1.0}
    assert len(rows) == report["n_cases"]
    for row in rows:
        assert row["status"] == "ok"
        probabilities = json.loads(ws.path(row["prediction_uri"]).read_text())
        assert list(probabilities) == ["normal", "thinning"]
        assert math.isclose(sum(probabilities.values()), 1.0, abs_tol=1e-6)
        assert ws.path(row["overlay_uri"]).read_bytes()[:4] == b"\x89PNG"
    ws.dispose()

    ranked = run_cli("rank", exp, "-w", ws_dir, "--metric", "probability", "--label", "case",
                     "--json")
    assert ranked.code == 0, ranked.stderr + ranked.stdout
    board = json.loads(ranked.stdout)["ranking"]["leaderboard"]
    assert (board["metric"], board["direction"]) == ("probability", "higher")
    ranks = [(row["rank"], row["aggregate"]) for row in board["rows"]]
    assert [r for r, _ in ranks] == [1, 2] and ranks[0][1] >= ranks[1][1]
    assert board["best"] == board["rows"][0]["model"]
