"""A third-party task kind, installed only through a ``medselect.tasks`` entry point, used in an
experiment end to end through the CLI: ``keypoints`` (a segmentation-family plugin of its own
kind, accepting only Dice and Dice-focal) is trained, evaluated, ranked and shown in the static
report like a built-in kind."""

from __future__ import annotations

import json

import pytest

from medselect.store import Workspace, get_task, list_runs, task_family

pytestmark = pytest.mark.slow

CLASSES = "[background, femur, tibia, patella, femoral_cartilage, tibial_cartilage]"


def keypoints_experiment(folder, losses: str):
    path = folder / f"keypoints-{losses.replace(', ', '-').strip('[]')}.yaml"
    path.write_text(f"""
task: {{name: knee-keypoints, kind: keypoints, family: segmentation, classes: {CLASSES}}}
data: {{source: {{kind: phantom, cases_per_site: 4, size: 32, seed: 0}}}}
sweep:
  name: keypoints
  strategy: grid
  space: {{loss: {losses}, epochs: 1, batch_size: 4, input_size: [32, 32], depth: 2,
          features: 4}}
  workers: 1
  threads_per_worker: 1
""")
    return path


def test_a_third_party_kind_trains_evaluates_ranks_and_shows(run_cli, tmp_path, keypoints_kind):
    ws_dir = tmp_path / "ws"
    refused = run_cli("sweep", "run", keypoints_experiment(tmp_path, "dice_ce"), "-w", ws_dir,
                      "--executor", "inprocess")
    assert refused.code == 1
    assert "loss: keypoints tasks take one of dice_focal, dice; got 'dice_ce'" in refused.stderr

    exp = keypoints_experiment(tmp_path, "[dice, dice_focal]")
    trained = run_cli("sweep", "run", exp, "-w", ws_dir, "--executor", "inprocess", "--json")
    assert trained.code == 0, trained.stderr + trained.stdout
    assert json.loads(trained.stdout)["counts"] == {"finished": 2}
    ws = Workspace.open(ws_dir)
    with ws.connect() as conn:
        row = get_task(conn, "knee-keypoints")
        runs = list_runs(conn, task="knee-keypoints")
    ws.dispose()
    assert (row["kind"], task_family(row)) == ("keypoints", "segmentation")
    assert sorted(r["config"]["loss"] for r in runs) == ["dice", "dice_focal"]

    evaluated = run_cli("evaluate", exp, "-w", ws_dir, "--json")
    assert evaluated.code == 0, evaluated.stderr
    _, report = json.loads(evaluated.stdout)["reports"]  # val, then test
    assert [m["status"] for m in report["models"]] == ["finished", "finished"]
    # without the file: the stored spec (kind and family) gives the same evaluations back
    stored = run_cli("evaluate", "-w", ws_dir, "--json")
    assert stored.code == 0, stored.stderr
    assert [m["evaluation_id"] for m in json.loads(stored.stdout)["reports"][-1]["models"]] == [
        m["evaluation_id"] for m in report["models"]]

    ranked = run_cli("rank", exp, "-w", ws_dir, "--metric", "dice", "--json")
    assert ranked.code == 0, ranked.stderr
    board = json.loads(ranked.stdout)["ranking"]["leaderboard"]
    assert (board["metric"], [r["rank"] for r in board["rows"]]) == ("dice", [1, 2])

    out = tmp_path / "report"
    written = run_cli("report", "-w", ws_dir, "--out", out, "--json")
    assert written.code == 0, written.stderr
    page = (out / "models" / f"{board['best']}.html").read_text()
    # the segmentation family's page: its metrics and one overlay per case
    assert "dice" in page and "hd95" in page
    assert page.count('class="thumb"') == report["n_cases"]  # the test (confirmation) set
