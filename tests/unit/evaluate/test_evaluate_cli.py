"""`medselect evaluate` refuses what it cannot do with one line naming the fix (exit 1)."""

from __future__ import annotations

import json

import numpy as np

from medselect.data.image import Image
from medselect.data.writers import write_image


def test_options_that_do_not_go_together_are_refused(run_cli, tmp_path):
    named = run_cli("evaluate", "-w", tmp_path, "--name", "x")
    assert named.code == 1 and "give --predictions FOLDER too" in named.stderr
    mixed = run_cli("evaluate", "-w", tmp_path, "--predictions", tmp_path, "--top", "2")
    assert mixed.code == 1 and "leave out --runs, --top and --include-pruned" in mixed.stderr


def test_a_workspace_without_runs_says_what_to_do(run_cli, tmp_path, tiny_phantom):
    ws = tmp_path / "ws"
    assert run_cli("data", "import", tiny_phantom / "manifest.csv", "-w", ws, "--task", "knee",
                   "--classes", "background,femur,tibia,patella,femoral_cartilage,"
                   "tibial_cartilage").code == 0
    result = run_cli("evaluate", "-w", ws)
    assert result.code == 1 and "no finished run" in result.stderr
    assert "medselect sweep run" in result.stderr and "Traceback" not in result.stderr
    folder = tmp_path / "preds"
    write_image(Image(np.zeros((32, 32), np.uint8), spacing=(1.0, 1.0)), folder / "x.png")
    external = run_cli("evaluate", "-w", ws, "--predictions", folder, "--json")
    assert external.code == 0, external.stderr  # named after the folder; every case missing
    assert '"model_ref": "external:preds"' in external.stdout
    reports = json.loads(external.stdout)["reports"]
    assert [(r["name"], r["case_set_kind"]) for r in reports] == [("val", "val"),
                                                                   ("test", "test")]
    only_val = run_cli("evaluate", "-w", ws, "--predictions", folder, "--cases", "val")
    assert only_val.code == 0, only_val.stderr
    assert "(val, " in only_val.stdout and "(test, " not in only_val.stdout
    unknown = run_cli("evaluate", "-w", ws, "--predictions", folder, "--cases", "nowhere")
    listed = "task 'knee' has no case set 'nowhere'; it has val, test, reference"
    assert unknown.code == 1 and listed in unknown.stderr
    assert run_cli("evaluate", "-w", tmp_path / "absent").code == 1


def test_the_ranking_rules_say_which_set_selects_and_which_confirms():
    from medselect.cli.evaluate import case_set_roles
    from medselect.config import RankingSpec

    assert case_set_roles(None) == {}
    roles = case_set_roles(RankingSpec())
    assert roles["val"].startswith("selects the model")
    assert roles["test"].startswith("confirms the choice")
    same = case_set_roles(RankingSpec(selection={"case_set": "test"}))
    assert list(same) == ["test"] and "biased upwards" in same["test"]
    assert list(case_set_roles(RankingSpec(selection={"folds": 5}))) == ["test"]
