"""The CLI shows the looks: ``promote`` prints the level and how it came about, and ``registry
show`` each scope's budget on its reference set with the advice to refresh it. The models are
evaluated already (no training): r1 < r2 < r4 on every reference case."""

from __future__ import annotations

import json
import re

import pytest
from registry_tables import BASE_DICE, WOBBLE, shifted


@pytest.fixture
def workspace(ws, evaluate):
    evaluate("r1", dice=BASE_DICE)
    evaluate("r2", dice=shifted(shifted(BASE_DICE, 0.05), WOBBLE))
    evaluate("r4", dice=shifted(shifted(BASE_DICE, 0.10), WOBBLE))
    return ws.root


def test_promote_prints_the_look_and_show_the_budget(run_cli, workspace, tmp_path):
    assert run_cli("promote", "r1", "-w", workspace, "--actor", "qa").code == 0
    shown = json.loads(run_cli("registry", "show", "-w", workspace, "--json").stdout)
    assert shown[0]["budget"]["looks"] == 0 and shown[0]["budget"]["advice"] is None

    second = run_cli("promote", "r2", "-w", workspace, "--actor", "qa", "--json")
    assert second.code == 0, second.stderr
    look = json.loads(second.stdout)["decision"]["look"]
    assert look["number"] == 1 and look["chosen_from"] == 3  # no selection set: K = 3
    assert look["description"].startswith("look 1 at this reference set in this scope: level "
                                          "0.025 (geometric spending of alpha 0.05), divided by 3")
    third = run_cli("promote", "r4", "-w", workspace, "--actor", "qa")
    assert third.code == 0, third.stderr
    assert "level 0.00417: look 2 at this reference set" in third.stdout
    assert "the candidate was picked on the reference set from 3 models" in third.stdout

    shown = json.loads(run_cli("registry", "show", "-w", workspace, "--json").stdout)
    [budget] = [row["budget"] for row in shown]
    assert (budget["reference_case_set"], budget["looks"], budget["rule"]) == (
        "ref", 2, "geometric")
    assert budget["spent"] == pytest.approx(0.0375)
    assert budget["next_alpha"] == pytest.approx(0.00625)
    assert "75% of the reference set's alpha is spent" in budget["advice"]
    text = run_cli("registry", "show", "-w", workspace).stdout
    assert "error budget on the reference set" in text
    assert re.search(r"knee\s+global\s+ref\s+2\s+0\.0375\s+0\.05\s+0\.00625\s+geometric", text)
    assert "spending rule from the newest gate decision in this scope" in text
    assert "knee global: 75% of the reference set's alpha is spent" in text

    experiment = tmp_path / "bonferroni.yaml"
    experiment.write_text("task: {name: knee, classes: [background, bone]}\n"
                          "data: {source: {kind: phantom}}\n"
                          "promotion: {alpha_spending: bonferroni, max_looks: 2}\n")
    spent = run_cli("registry", "show", "-w", workspace, "--experiment", experiment, "--json")
    assert spent.code == 0, spent.stderr
    [budget] = [row["budget"] for row in json.loads(spent.stdout)]
    assert budget["exhausted"] and budget["protocol"] == "the experiment's promotion section"
    assert "medselect upgrade --new-reference" in budget["advice"]
