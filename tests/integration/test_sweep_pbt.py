"""Strategy pbt from the CLI: a population of three members under Ray Tune's
PopulationBasedTraining on a local Ray, exploits that copy a donor's snapshot and change the
recorded schedule, and members that evaluate and rank like any run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("ray.tune")
torch = pytest.importorskip("torch")

from medselect.config import load_experiment, run_id  # noqa: E402
from medselect.store import Workspace, get_epoch_metrics, list_runs, upsert_run  # noqa: E402
from medselect.sweep.population import member_configs  # noqa: E402

# one Ray at a time on the test machine: each takes its cores
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]

POPULATION = """  strategy: pbt
  seed: 0
  population:
    size: 3
    perturbation_interval: 2
    mutations:
      learning_rate: {log_uniform: [1.0e-4, 3.0e-2]}
      augmentation_strength: {uniform: [0.0, 1.0]}
"""


def population_experiment(experiment_file):
    path = experiment_file(space="architecture: unet, loss: dice_ce, augmentation: light, "
                                 "epochs: 4")
    path.write_text(path.read_text().replace("  strategy: grid\n", POPULATION))
    return path


def curve(conn, run: str, name: str) -> list[float]:
    values = {e["epoch"]: e["value"] for e in get_epoch_metrics(conn, run) if e["name"] == name}
    return [values[epoch] for epoch in sorted(values)]


def test_a_population_exploits_through_the_workspace_and_its_members_rank(
        run_cli, experiment_file, tmp_path):
    exp = population_experiment(experiment_file)
    ws_dir = tmp_path / "ws"
    refused = run_cli("sweep", "run", exp, "-w", ws_dir, "--executor", "inprocess")
    assert refused.code == 1 and "--executor ray" in refused.stderr, refused.stderr

    cmd = [sys.executable, "-m", "medselect.cli", "sweep", "run", str(exp), "-w", str(ws_dir),
           "--executor", "ray", "--workers", "2", "--threads", "1"]  # with its progress table
    trained = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert trained.returncode == 0, trained.stderr
    assert "population pbt-" in trained.stdout and "3 finished" in trained.stdout

    ws = Workspace.open(ws_dir)
    with ws.connect() as conn:
        runs = {r["id"]: r for r in list_runs(conn)}
        version = next(iter(runs.values()))["dataset_version"]
        # content-derived ids: the initial configuration, population and index
        assert set(runs) == {run_id(c, version) for c in member_configs(load_experiment(exp))}
        exploited = [r for r in runs.values() if r["details"].get("population_exploits")]
        assert exploited, "no member exploited another"
        member = exploited[0]
        [event] = member["details"]["population_exploits"]
        donor = event["donor"]
        assert event["epoch"] == event["donor_epoch"] == 2 and donor in runs and donor != member
        assert event["donor_checkpoint"] == f"runs/{donor}/snapshots/epoch-0002.pt"
        rates = curve(conn, member["id"], "learning_rate")
        strengths = curve(conn, member["id"], "augmentation_strength")
    # the recorded schedule changes at the exploit: epochs 1-2 at the old values, 3-4 the new
    old, new = event["from"], event["to"]
    assert old["learning_rate"] != new["learning_rate"]
    assert rates == pytest.approx([old["learning_rate"]] * 2 + [new["learning_rate"]] * 2)
    assert strengths == pytest.approx([old["augmentation_strength"]] * 2
                                      + [new["augmentation_strength"]] * 2)
    assert old["learning_rate"] == pytest.approx(
        runs[member["id"]]["config"]["learning_rate"])
    # the member continued from the donor's weights and optimizer state, not its own
    load = lambda rel: torch.load(ws.path(rel), weights_only=True)  # noqa: E731
    started = load(f"runs/{member['id']}/snapshots/start-0002.pt")
    given = load(event["donor_checkpoint"])
    own = load(f"runs/{member['id']}/snapshots/epoch-0002.pt")
    assert started["model"].keys() == given["model"].keys()
    assert all(torch.equal(started["model"][k], given["model"][k]) for k in given["model"])
    assert not all(torch.equal(own["model"][k], given["model"][k]) for k in given["model"])
    assert started["optimizer"]["state"][0]["exp_avg"].equal(
        given["optimizer"]["state"][0]["exp_avg"])
    assert started["optimizer"]["param_groups"][0]["lr"] == pytest.approx(new["learning_rate"])
    assert started["values"] == pytest.approx(new)

    shown = run_cli("runs", "show", member["id"], "-w", ws_dir)
    assert "exploits" in shown.stdout and donor in shown.stdout
    again = run_cli("sweep", "run", exp, "-w", ws_dir, "--executor", "ray", "--json")
    assert again.code == 0 and json.loads(again.stdout)["counts"] == {"finished": 3}
    with ws.connect() as conn:
        assert {r["id"]: r["attempts"] for r in list_runs(conn)} == {
            i: r["attempts"] for i, r in runs.items()}  # nothing trained twice

    evaluated = run_cli("evaluate", exp, "-w", ws_dir, "--json")
    assert evaluated.code == 0, evaluated.stderr
    _, report = json.loads(evaluated.stdout)["reports"]  # val, then test
    assert {m["model_ref"] for m in report["models"]} == set(runs)
    assert {m["status"] for m in report["models"]} == {"finished"}
    ranked = run_cli("rank", exp, "-w", ws_dir, "--metric", "dice", "--json")
    assert ranked.code == 0, ranked.stderr
    board = json.loads(ranked.stdout)["ranking"]["leaderboard"]
    assert {row["model"] for row in board["rows"]} == set(runs)

    with ws.begin() as conn:  # a member stopped part-way: the population is not patched up
        upsert_run(conn, {"id": member["id"], "status": "interrupted"})
    stopped = run_cli("sweep", "run", exp, "-w", ws_dir, "--executor", "ray")
    assert stopped.code == 1 and "stopped part-way" in stopped.stderr
    assert member["id"] in stopped.stderr and "sweep.seed" in stopped.stderr
