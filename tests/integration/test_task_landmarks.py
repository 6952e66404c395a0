"""A landmarks experiment end to end: train two heatmap models, evaluate them, rank by MRE."""

from __future__ import annotations

import json
import math

import pytest

from medselect.data.phantom import KNEE_LANDMARKS
from medselect.metrics import MEAN_LABEL
from medselect.store import Workspace, case_metric_table, get_predictions

pytestmark = pytest.mark.slow


def landmarks_experiment(folder):
    path = folder / "landmarks.yaml"
    path.write_text(f"""
task: {{name: knee-landmarks, kind: landmarks, spatial_dims: 2,
        landmarks: [{", ".join(KNEE_LANDMARKS)}]}}
data: {{source: {{kind: phantom, cases_per_site: 4, size: 32, seed: 0}}}}
sweep:
  name: lm
  strategy: grid
  space: {{loss: [mse, soft_argmax], epochs: 2, batch_size: 4, input_size: [32, 32],
          depth: 2, features: 8}}
  workers: 1
  threads_per_worker: 1
""")
    return path


def test_landmarks_train_evaluate_and_rank_by_mre(run_cli, tmp_path):
    exp, ws_dir = landmarks_experiment(tmp_path), tmp_path / "ws"
    trained = run_cli("sweep", "run", exp, "-w", ws_dir, "--executor", "inprocess", "--json")
    assert trained.code == 0, trained.stderr + trained.stdout

    evaluated = run_cli("evaluate", exp, "-w", ws_dir, "--json")
    assert evaluated.code == 0, evaluated.stderr
    report = json.loads(evaluated.stdout)
    assert [m["status"] for m in report["models"]] == ["finished", "finished"]
    # radial_error has no per-case mean, so the case's MRE leads summaries
    assert {m["key_metric"] for m in report["models"]} == {"mre"}
    assert all(m["key_value"] > 0 for m in report["models"])

    ws = Workspace.open(ws_dir)
    with ws.connect() as conn:
        table = case_metric_table(conn, case_set=report["case_set"])
        rows = get_predictions(conn, report["models"][0]["evaluation_id"])
    errors = table[table["metric"] == "radial_error"]
    assert set(errors["label"]) == set(KNEE_LANDMARKS)
    assert (errors["value"] >= 0).all()
    mre = table[(table["metric"] == "mre") & (table["label"] == MEAN_LABEL)]
    assert len(mre) == 2 * report["n_cases"]
    sdr = table[table["metric"] == "sdr_2mm"]["value"]
    assert sdr.between(0, 100).all()
    for row in rows:
        assert row["status"] == "ok"
        points = json.loads(ws.path(row["prediction_uri"]).read_text())
        assert list(points) == list(KNEE_LANDMARKS)
        assert all(len(p) == 2 and all(math.isfinite(c) for c in p) for p in points.values())
        assert ws.path(row["overlay_uri"]).read_bytes()[:4] == b"\x89PNG"
    ws.dispose()

    ranked = run_cli("rank", exp, "-w", ws_dir, "--metric", "mre", "--json")
    assert ranked.code == 0, ranked.stderr
    board = json.loads(ranked.stdout)["ranking"]["leaderboard"]
    assert (board["metric"], board["direction"]) == ("mre", "lower")
    ranks = [(row["rank"], row["aggregate"]) for row in board["rows"]]
    assert [r for r, _ in ranks] == [1, 2] and ranks[0][1] <= ranks[1][1]
    assert board["best"] == board["rows"][0]["model"]
