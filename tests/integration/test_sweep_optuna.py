"""Strategy optuna from the CLI: trials as runs, pruning, the study in the workspace database
(SQLite and PostgreSQL), local and in-process executors, two processes sharing one study."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

optuna = pytest.importorskip("optuna")

from medselect.config import load_experiment  # noqa: E402
from medselect.data.importer import import_experiment_data  # noqa: E402
from medselect.store import Workspace, get_epoch_metrics, list_runs  # noqa: E402

pytestmark = pytest.mark.slow

SPACE = ("architecture: [unet], loss: [dice_ce], epochs: 4, "
         "learning_rate: {log_uniform: [1.0e-6, 3.0e-2]}")
OPTUNA = """  strategy: optuna
  sampler: random
  seed: 3
  n_trials: {n}
  pruner: {{kind: median, startup_trials: 1, warmup_epochs: 1}}
"""


def optuna_experiment(experiment_file, n: int = 5, space: str = SPACE):
    path = experiment_file(space=space)
    text = path.read_text().replace("  strategy: grid\n", OPTUNA.format(n=n))
    path.write_text(text.replace("  workers: 2\n", "  workers: 1\n"))
    return path


def study_of(ws: Workspace) -> optuna.Study:
    url = ws.engine.url.render_as_string(hide_password=False)
    [name] = optuna.get_all_study_names(url)
    return optuna.load_study(study_name=name, storage=url)


def check_trials_match_runs(ws: Workspace, n_trials: int) -> dict[str, int]:
    """Every trial names a run whose status says how the trial ended; the counts by status."""
    with ws.connect() as conn:
        runs = {r["id"]: r for r in list_runs(conn)}
        epochs = {r: max(e["epoch"] for e in get_epoch_metrics(conn, r)) for r in runs}
    trials = study_of(ws).trials
    assert len(trials) == n_trials
    state = {"finished": optuna.trial.TrialState.COMPLETE,
             "pruned": optuna.trial.TrialState.PRUNED}
    for trial in trials:
        run = runs[trial.user_attrs["run"]]
        assert trial.state == state[run["status"]], (trial, run["status"])
        assert run["attempts"] == 1  # trained once
        if run["status"] == "pruned":  # stopped early, curve and checkpoint kept
            assert epochs[run["id"]] < 4 and run["checkpoint_uri"]
            assert sorted(trial.intermediate_values) == list(range(1, epochs[run["id"]] + 1))
        else:
            assert epochs[run["id"]] == 4 and trial.values == [pytest.approx(
                max(trial.intermediate_values.values()))]
    return {s: sum(r["status"] == s for r in runs.values()) for s in ("finished", "pruned")}


def test_optuna_with_pruning_from_the_cli_on_the_local_executor(
        run_cli, experiment_file, tmp_path, db_url):
    exp = optuna_experiment(experiment_file)
    ws_dir = tmp_path / "ws"
    db = ("--db-url", db_url) if db_url else ()
    result = run_cli(*db, "sweep", "run", exp, "-w", ws_dir, "--json")
    assert result.code == 0, result.stderr  # pruned runs are no failure
    counts = json.loads(result.stdout)["counts"]
    ws = Workspace.open(ws_dir, db_url)
    assert check_trials_match_runs(ws, 5) == {"finished": counts.get("finished", 0),
                                              "pruned": counts.get("pruned", 0)}
    assert counts.get("pruned", 0) >= 1 and counts.get("finished", 0) >= 1
    again = run_cli(*db, "sweep", "run", exp, "-w", ws_dir, "--json")  # the budget is spent
    assert again.code == 0 and json.loads(again.stdout)["counts"] == counts
    assert len(study_of(ws).trials) == 5
    status = run_cli(*db, "sweep", "status", "-w", ws_dir, "--json")
    assert json.loads(status.stdout)["tiny"] == counts
    front = json.loads(run_cli(*db, "sweep", "pareto", "-w", ws_dir, "--json").stdout)
    best = max(p["val_dice"] for p in front[0]["points"])
    assert [p["val_dice"] for p in front[0]["points"] if p["on_front"]] == [best]
    ws.dispose()


def test_optuna_on_the_in_process_executor_and_evaluate_include_pruned(
        run_cli, experiment_file, tmp_path):
    exp = optuna_experiment(experiment_file, n=4)
    ws_dir = tmp_path / "ws"
    result = run_cli("sweep", "run", exp, "-w", ws_dir, "--executor", "inprocess", "--json")
    assert result.code == 0, result.stderr
    ws = Workspace.open(ws_dir)
    counts = check_trials_match_runs(ws, 4)
    assert counts["pruned"] >= 1
    plain = run_cli("evaluate", "-w", ws_dir, "--cases", "val", "--no-overlays", "--json")
    asked = run_cli("evaluate", "-w", ws_dir, "--cases", "val", "--no-overlays",
                    "--include-pruned", "--json")
    assert plain.code == 0 and asked.code == 0, asked.stderr
    evaluated = [len(json.loads(r.stdout)["reports"][0]["models"]) for r in (plain, asked)]
    assert evaluated == [counts["finished"], counts["finished"] + counts["pruned"]]
    ws.dispose()


def test_two_sweeps_share_one_study_and_train_no_trial_twice(experiment_file, tmp_path, db_url):
    exp = optuna_experiment(experiment_file, n=6, space=SPACE.replace("epochs: 4", "epochs: 2"))
    ws_dir = tmp_path / "ws"
    ws = Workspace.create(ws_dir, db_url)  # the data first: the processes share the study
    import_experiment_data(ws, load_experiment(exp))
    env = {**os.environ, **({"MEDSELECT_DB_URL": db_url} if db_url else {})}
    cmd = [sys.executable, "-m", "medselect.cli", "sweep", "run", str(exp), "-w", str(ws_dir),
           "--workers", "1", "--threads", "1", "--json"]
    sweeps = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env) for _ in range(2)]
    outputs = [s.communicate(timeout=600) for s in sweeps]
    assert [s.returncode for s in sweeps] == [0, 0], [err for _, err in outputs]
    trials = study_of(ws).trials
    assert len(trials) == 6  # the budget is the study's, counted across both processes
    with ws.connect() as conn:
        runs = list_runs(conn)
    assert {t.user_attrs["run"] for t in trials} == {r["id"] for r in runs}
    assert all(r["attempts"] == 1 for r in runs)  # no run trained twice
    assert {t.state.name for t in trials} <= {"COMPLETE", "PRUNED"}
    ws.dispose()


@pytest.mark.xdist_group("ray")
def test_optuna_trials_as_ray_tasks(experiment_file, tmp_path):
    pytest.importorskip("ray")
    exp = optuna_experiment(experiment_file, n=4)
    ws_dir = tmp_path / "ws"
    result = subprocess.run(
        [sys.executable, "-m", "medselect.cli", "sweep", "run", str(exp), "-w", str(ws_dir),
         "--executor", "ray", "--workers", "2", "--threads", "1", "--json"],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    ws = Workspace.open(ws_dir)
    counts = check_trials_match_runs(ws, 4)
    assert json.loads(result.stdout)["counts"] == {s: n for s, n in counts.items() if n}
    with ws.connect() as conn:
        assert all("/ray-" in r["worker"] for r in list_runs(conn))  # trained by Ray workers
    ws.dispose()


def test_the_optuna_example_is_accepted(tmp_path):
    from pathlib import Path

    from medselect.sweep import plan_sweep

    example = Path(__file__).parents[2] / "examples" / "knee-segmentation-optuna.yaml"
    experiment = load_experiment(example)
    ws = Workspace.create(tmp_path / "ws")
    plan = plan_sweep(ws, experiment, import_experiment_data(ws, experiment).version_id)
    assert plan.study.name.startswith("knee-optuna@") and plan.trials_done == 0
    assert plan.study.objectives == (("val_dice", "maximize"),)
    ws.dispose()
