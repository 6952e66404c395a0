"""Selection by K-fold cross-validation, end to end through the CLI on the tiny phantom: fold
runs -> out-of-fold ranking -> fold ensemble -> evaluation on test -> promotion through the gate;
then the same configurations refitted instead."""

from __future__ import annotations

import json

import pytest

from medselect.store import Workspace, get_cases, get_run, list_runs

pytestmark = pytest.mark.slow

SPACE = "architecture: [unet], loss: [dice_ce, dice], epochs: 2"
SETTINGS = """evaluation: {{metrics: [dice, hd95], overlays: false}}
ranking: {{metric: dice, bootstrap_resamples: 200, selection: {{folds: 2, final: {final}}}}}
promotion: {{min_patients: 2}}
"""


def test_cross_validation_chooses_a_configuration_and_its_ensemble_is_promoted(
        run_cli, experiment_file, tmp_path):
    exp = experiment_file(space=SPACE, extra=SETTINGS.format(final="ensemble"))
    ws_dir = tmp_path / "ws"
    swept = run_cli("sweep", "run", exp, "-w", ws_dir, "--json")
    assert swept.code == 0, swept.stderr
    assert json.loads(swept.stdout)["counts"] == {"finished": 4}  # 2 configurations x 2 folds

    finalized = run_cli("sweep", "finalize", exp, "-w", ws_dir, "--json")
    assert finalized.code == 0, finalized.stderr
    result = json.loads(finalized.stdout)
    ws = Workspace.open(ws_dir)
    with ws.connect() as conn:
        cases = get_cases(conn, result["dataset_version"])
        ensemble = get_run(conn, result["model_ref"])
    pooled = [c for c in cases if c["split"] in ("train", "val")]
    board = result["ranking"]["ranking"]["leaderboard"]
    assert result["chosen"] == board["best"]
    assert {r["model"] for r in board["rows"]} == set(result["configurations"])
    for row in board["rows"]:  # every train + val case, each once, from the fold without it
        assert row["n_cases"] == len(pooled)
        assert row["n_patients"] == len({c["patient_id"] for c in pooled})
        assert row["ci_low"] <= row["aggregate"] <= row["ci_high"]
    assert set(result["fold_means"][result["chosen"]]) == {"1", "2"}
    assert result["final"] == "ensemble" and ensemble["status"] == "finished"
    assert ensemble["config"]["cv"] == {"folds": 2, "seed": 0, "final": "ensemble"}
    assert ensemble["details"]["selection"]["configuration"] == result["chosen"]
    assert ensemble["details"]["members"] == result["evidence"]["fold_runs"]

    again = run_cli("sweep", "finalize", exp, "-w", ws_dir)  # idempotent, and for people
    assert again.code == 0, again.stderr
    assert f"final model (ensemble): {result['model_ref']}" in again.stdout
    assert "chosen configuration: " + result["chosen"] in again.stdout

    evaluated = run_cli("evaluate", exp, "-w", ws_dir, "--json")
    assert evaluated.code == 0, evaluated.stderr
    report = json.loads(evaluated.stdout)
    assert all(m["status"] == "reused" for r in report["folds"] for m in r["models"])
    [on_test] = report["models"]["reports"]  # not val: it is cross-validated with train
    [outcome] = on_test["models"]  # the test split: the final model only
    assert outcome["model_ref"] == result["model_ref"] and outcome["n_ok"] == outcome["n_cases"]
    assert on_test["case_set"].endswith("-test")

    ranked = run_cli("rank", exp, "-w", ws_dir, "--json")  # chosen by CV, confirmed on test
    assert ranked.code == 0, ranked.stderr
    choice = json.loads(ranked.stdout)
    assert choice["selection_set"].startswith("out-of-fold (2 folds")
    assert choice["chosen"] == result["model_ref"] and not choice["same_set"]
    assert choice["final_models"][result["chosen"]] == result["model_ref"]
    [confirmed] = choice["confirmation"]
    assert confirmed["model"] == result["model_ref"] and confirmed["case_set"].endswith("-test")
    assert confirmed["value"] is not None and confirmed["n_patients"] > 0

    promoted = run_cli("promote", result["model_ref"], "-w", ws_dir, "--experiment", exp)
    assert promoted.code == 0, promoted.stdout + promoted.stderr
    assert "PROMOTED" in promoted.stdout
    listed = {r["id"]: r["config"]["cv"]
              for r in json.loads(run_cli("runs", "list", "-w", ws_dir, "--json").stdout)}
    assert listed[result["model_ref"]]["final"] == "ensemble"
    assert sorted(cv.get("fold", 0) for cv in listed.values()) == [0, 1, 1, 2, 2]

    refit_exp = experiment_file(space=SPACE, extra=SETTINGS.format(final="refit"),
                                name="refit")
    refit = run_cli("sweep", "finalize", refit_exp, "-w", ws_dir, "--json")
    assert refit.code == 0, refit.stderr
    chosen = json.loads(refit.stdout)
    with ws.connect() as conn:
        run = get_run(conn, chosen["model_ref"])
        runs = list_runs(conn)
    assert chosen["chosen"] == result["chosen"] and run["status"] == "finished"
    assert run["config"]["cv"] == {"folds": 2, "seed": 0, "final": "refit"}
    assert run["config"]["early_stopping_patience"] is None and run["config"]["epochs"] >= 1
    assert len(runs) == 6  # 4 fold runs, the ensemble and the refit
    ws.dispose()
