"""A classification experiment end to end: train two image-level models on the phantom's
thinning grade, evaluate them per case (overlays with saliency maps), rank them by the
probability of the true class, show the best on the dashboard's model page and gate its
promotion; and the quick classification demo."""

from __future__ import annotations

import json
import math
import re
import warnings

import numpy as np
import pytest
from PIL import Image

from medselect.dashboard import DashboardSettings, create_app
from medselect.metrics import CASE_LABEL
from medselect.store import Workspace, case_metric_table, get_predictions

with warnings.catch_warnings():  # starlette warns that its TestClient still uses httpx
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.slow


def classification_experiment(folder):
    path = folder / "classification.yaml"
    path.write_text("""
task: {name: knee-thinning, kind: classification, spatial_dims: 2, classes: [normal, thinning]}
data: {source: {kind: phantom, cases_per_site: 8, size: 32, seed: 0}}
sweep:
  name: cls
  strategy: grid
  space: {architecture: [resnet18, densenet121], loss: ce, epochs: 1, batch_size: 4,
          input_size: [32, 32], features: 4}
  workers: 1
  threads_per_worker: 1
evaluation: {metrics: [probability, correct, auc, ece], overlays: true}
promotion: {primary: {metric: auc, label: thinning}, guards: [{metric: probability, margin: 0.5}],
            min_patients: 2}
""")
    return path


def heat_tinted(path) -> bool:
    """Whether an image holds pixels tinted red to yellow (a saliency heat map on grey)."""
    with Image.open(path) as img:
        rgb = np.asarray(img.convert("RGB"), dtype=int)
    return bool((rgb[..., 0] - rgb[..., 2] > 60).any())


def test_classification_trains_evaluates_ranks_shows_and_promotes(run_cli, tmp_path):
    exp, ws_dir = classification_experiment(tmp_path), tmp_path / "ws"
    trained = run_cli("sweep", "run", exp, "-w", ws_dir, "--executor", "inprocess", "--json")
    assert trained.code == 0, trained.stderr + trained.stdout
    report = json.loads(trained.stdout)
    assert report["counts"] == {"finished": 2} and report["total"] == 2

    evaluated = run_cli("evaluate", exp, "-w", ws_dir, "--json")
    assert evaluated.code == 0, evaluated.stderr + evaluated.stdout
    _, report = json.loads(evaluated.stdout)["reports"]  # val, then test
    assert [m["status"] for m in report["models"]] == ["finished", "finished"]
    assert {m["key_metric"] for m in report["models"]} == {"probability"}
    assert all(0 <= m["key_value"] <= 1 for m in report["models"])

    ws = Workspace.open(ws_dir)
    with ws.connect() as conn:
        table = case_metric_table(conn, case_set=report["case_set"])
        rows = get_predictions(conn, report["models"][0]["evaluation_id"])
    # every test case x model has one probability and one correct row, label "case", and
    # the probability of each class (the input of AUC and ECE, which have no per-case value)
    assert set(table["metric"]) == {"probability", "correct", "class_probability"}
    assert set(table["label"]) == {CASE_LABEL, "normal", "thinning"}
    for metric in ("probability", "correct"):
        assert len(table[table["metric"] == metric]) == 2 * report["n_cases"]
    assert set(table["reference"]) == {"normal", "thinning"}  # both classes: AUC is defined
    assert table[table["metric"] == "probability"]["value"].between(0, 1).all()
    assert set(table[table["metric"] == "correct"]["value"]) <= {0.0, 1.0}
    assert len(rows) == report["n_cases"]
    for row in rows:
        assert row["status"] == "ok"
        probabilities = json.loads(ws.path(row["prediction_uri"]).read_text())
        assert list(probabilities) == ["normal", "thinning"]
        assert math.isclose(sum(probabilities.values()), 1.0, abs_tol=1e-6)
        assert ws.path(row["overlay_uri"]).read_bytes()[:4] == b"\x89PNG"
        assert heat_tinted(ws.path(row["thumbnail_uri"]))  # the saliency map, on the image

    ranked = run_cli("rank", exp, "-w", ws_dir, "--metric", "auc", "--label", "thinning",
                     "--json")
    assert ranked.code == 0, ranked.stderr + ranked.stdout
    board = json.loads(ranked.stdout)["ranking"]["leaderboard"]
    assert (board["metric"], board["aggregate"], board["direction"]) == ("auc", "auc", "higher")
    assert board["statistics"]["test"] == "bootstrap"
    assert all(0 <= row["aggregate"] <= 1 for row in board["rows"])
    by_probability = run_cli("rank", exp, "-w", ws_dir, "--metric", "probability", "--json")
    assert json.loads(by_probability.stdout)["ranking"]["leaderboard"]["label"] == CASE_LABEL
    ranks = [(row["rank"], row["aggregate"]) for row in board["rows"]]
    assert [r for r, _ in ranks] == [1, 2] and ranks[0][1] >= ranks[1][1]
    best, other = board["best"], board["rows"][1]["model"]
    assert best == board["rows"][0]["model"]

    settings = DashboardSettings(workspace=ws_dir, n_resamples=200, warm_up=False)
    client = TestClient(create_app(settings, workspace=ws), base_url="http://127.0.0.1:8000")
    page = client.get(f"/models/{best}")
    assert page.status_code == 200, page.text[-2000:]
    assert "probability" in page.text and "correct" in page.text and "auc" in page.text
    thumbs = re.findall(r'<img class="thumb" src="([^"]+)"', page.text)
    assert len(thumbs) == report["n_cases"]  # pages open on the test (confirmation) set
    overlay = client.get(thumbs[0])
    assert overlay.status_code == 200 and overlay.headers["content-type"] == "image/png"
    ws.dispose()

    first = run_cli("promote", other, "-w", ws_dir, "--experiment", exp, "--json")
    assert first.code == 0, first.stderr
    outcome = json.loads(first.stdout)
    assert (outcome["promoted"], outcome["first_version"]) == (True, True)
    gated = run_cli("promote", best, "-w", ws_dir, "--experiment", exp, "--json")
    decision = json.loads(gated.stdout)
    assert gated.code == (0 if decision["promoted"] else 1), gated.stderr
    primary = next(r for r in decision["decision"]["results"] if r["name"] == "primary")
    assert (primary["metric"], primary["label"]) == ("auc", "thinning")
    assert decision["decision"]["incumbents"] == [other]
    guard = next(r for r in decision["decision"]["results"] if r["name"] == "guard")
    assert (guard["metric"], guard["label"]) == ("probability", CASE_LABEL)


def test_quick_classification_demo_runs_every_step(run_cli, tmp_path):
    ws_dir = tmp_path / "ws"
    result = run_cli("demo", "--task", "classification", "-w", ws_dir, "--no-serve", "--quick")
    assert result.code == 0, result.stderr
    for step in ("1. data", "2. sweep: 4 configurations", "3. evaluation",
                 "4. ranking by auc", "5. registry", "6. predict", "7. dashboard"):
        assert step in result.stdout
    assert "knee-thinning-quick" in result.stdout
    assert (ws_dir / "report" / "index.html").is_file()
