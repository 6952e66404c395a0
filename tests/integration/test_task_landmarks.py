"""A landmarks experiment end to end: train two heatmap models (sigma and decoding from the
YAML, some training cases lacking a landmark), evaluate them, rank by MRE, render the best
model's dashboard page and gate two promotions on MRE."""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
import warnings

import pytest

from medselect.dashboard import DashboardSettings, create_app
from medselect.data.phantom import KNEE_LANDMARKS
from medselect.metrics import MEAN_LABEL
from medselect.store import Workspace, case_metric_table, get_predictions, list_runs

with warnings.catch_warnings():  # starlette warns that its TestClient still uses httpx
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.slow

LACKING = "patella_apex"


def landmarks_data(phantom, folder):
    """The phantom's images and landmarks; every fourth case lacks ``LACKING``."""
    data = folder / "data"
    shutil.copytree(phantom, data)
    with open(data / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    lacking = []
    for i, row in enumerate(rows):
        del row["label"], row["target"]
        if i % 4 == 0:
            path = data / row["landmarks"]
            points = json.loads(path.read_text())
            del points[LACKING]
            path.write_text(json.dumps(points))
            lacking.append(row["case_id"])
    with open(data / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return data / "manifest.csv", lacking


def landmarks_experiment(folder, manifest):
    path = folder / "landmarks.yaml"
    path.write_text(f"""
task: {{name: knee-landmarks, kind: landmarks, spatial_dims: 2,
        landmarks: [{", ".join(KNEE_LANDMARKS)}]}}
data: {{source: {{kind: manifest, path: {manifest}}}}}
sweep:
  name: lm
  strategy: grid
  space: {{loss: [mse, soft_argmax], epochs: 2, batch_size: 4, input_size: [32, 32],
          depth: 2, features: 8, heatmap_sigma: 1.5, decoding: soft_argmax}}
  workers: 1
  threads_per_worker: 1
evaluation: {{metrics: [mre, radial_error, sdr_2mm, sdr_4mm], overlays: true}}
ranking: {{metric: mre}}
promotion: {{primary: {{metric: mre, margin: 0.0}}, min_patients: 3}}
""")
    return path


def test_landmarks_train_evaluate_rank_show_and_promote(run_cli, tiny_phantom, tmp_path):
    manifest, lacking = landmarks_data(tiny_phantom, tmp_path)
    exp, ws_dir = landmarks_experiment(tmp_path, manifest), tmp_path / "ws"
    trained = run_cli("sweep", "run", exp, "-w", ws_dir, "--executor", "inprocess", "--json")
    assert trained.code == 0, trained.stderr + trained.stdout

    ws = Workspace.open(ws_dir)
    with ws.connect() as conn:
        runs = list_runs(conn, task="knee-landmarks")
        train_ids = {r["case_id"] for r in conn.exec_driver_sql(
            "SELECT case_id FROM \"case\" WHERE split = 'train'").mappings()}
    ws.dispose()
    assert [r["status"] for r in runs] == ["finished", "finished"]
    assert {(r["config"]["heatmap_sigma"], r["config"]["decoding"]) for r in runs} == {
        (1.5, "soft_argmax")}  # recorded with each run
    assert train_ids & set(lacking)  # trained on cases lacking a landmark

    evaluated = run_cli("evaluate", exp, "-w", ws_dir, "--json")
    assert evaluated.code == 0, evaluated.stderr
    report = json.loads(evaluated.stdout)["reports"][-1]  # val, then test
    assert [m["status"] for m in report["models"]] == ["finished", "finished"]
    assert all(m["n_ok"] == m["n_cases"] == report["n_cases"] for m in report["models"])
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
    best, other = board["best"], board["rows"][1]["model"]
    assert best == board["rows"][0]["model"]

    settings = DashboardSettings(workspace=ws_dir, n_resamples=200, warm_up=False)
    with TestClient(create_app(settings), base_url="http://127.0.0.1:8000") as client:
        page = client.get(f"/models/{best}", params={"case_set": report["case_set"]})
        assert page.status_code == 200, page.text[-2000:]
        html = page.text
        assert f"<h1>{best}" in html
        assert all(f'id="chart-box-{m}"' in html for m in ("mre", "sdr_2mm", "sdr_4mm"))
        assert 'title="sort by mre (lower is better)"' in html
        assert all(f">{name}</a>" in html for name in KNEE_LANDMARKS)  # per-landmark views
        thumbs = re.findall(r'<img class="thumb" src="([^"]+)"', html)
        assert len(thumbs) == report["n_cases"]
        assert client.get(thumbs[0]).headers["content-type"] == "image/png"

    first = run_cli("promote", best, "-w", ws_dir, "--experiment", exp, "--json")
    assert first.code == 0, first.stderr
    promoted = json.loads(first.stdout)
    assert (promoted["promoted"], promoted["first_version"]) == (True, True)
    assert promoted["version"]["version"] == 1

    second = run_cli("promote", other, "-w", ws_dir, "--experiment", exp, "--json")
    assert second.code in (0, 1), second.stderr
    judged = json.loads(second.stdout)["decision"]
    assert judged["incumbents"] == [best]
    primary = next(r for r in judged["results"] if r["name"] == "primary")
    assert (primary["metric"], primary["incumbent"]) == ("mre", best)
    assert primary["explanation"].startswith("mre (mean, lower is better)")
