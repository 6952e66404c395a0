"""`medselect upgrade` end to end on the 32x32 phantom: a new site arrives, the models are
retrained on old + new cases, and the gate decides, once for a better and once for a worse
candidate.

Two runs are trained once on three sites (1 and 8 epochs; on the 7 reference cases their mean
Dice is about 0.14 and 0.5), and each test starts from a copy of that workspace:

- better: the 1-epoch run is champion; ``retrain: top_k`` with k=1 retrains the best
  configuration on the reference set (8 epochs) on the new version, which beats it clearly;
- worse: the 8-epoch run is champion; ``retrain: sweep`` over a 1-epoch sweep gives a
  candidate far below it;
- new reference: 30 patients of the new site arrive and ``--new-reference`` makes their test
  patients the reference set; the candidate is gated there against the champion, at the
  first look of a fresh budget;
- reviewed cases: unlabelled new cases are evaluated, one prediction is accepted, and
  ``--reviewed`` trains on that case in the training split only (audited).

Each scope's candidate is chosen on the new version's validation split (K = 1).
"""

from __future__ import annotations

import json
import shutil

import pytest

from medselect.data.phantom import synth_knee_dataset
from medselect.data.phantom_sites import DEFAULT_SITES
from medselect.store import (
    Workspace,
    get_run,
    latest_evaluations,
    list_audit_events,
    list_runs,
)

pytestmark = pytest.mark.slow

CLASSES = "[background, femur, tibia, patella, femoral_cartilage, tibial_cartilage]"


def _experiment(folder, name: str, epochs: str, upgrade: str):
    path = folder / f"{name}.yaml"
    path.write_text(f"""
task: {{name: knee, kind: segmentation, spatial_dims: 2, classes: {CLASSES}}}
data: {{source: {{kind: phantom, cases_per_site: 10, sites: 3, size: 32, seed: 0}}}}
sweep:
  name: tiny
  space: {{architecture: unet, loss: dice_ce, epochs: {epochs}, batch_size: 4,
           input_size: [32, 32], depth: 2, features: 8}}
  workers: 1
  threads_per_worker: 1
evaluation: {{metrics: [dice, hd95], overlays: false}}
promotion: {{primary: {{metric: dice, margin: 0.02}}, min_patients: 4, scopes: [global]}}
upgrade: {upgrade}
""")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A workspace with a 1-epoch and an 8-epoch run on sites a-c, and a new site's manifest."""
    from medselect.cli.main import main

    root = tmp_path_factory.mktemp("upgrade")
    exp = _experiment(root, "first", "[1, 8]", "{retrain: top_k, top_k: 1}")
    with pytest.raises(SystemExit) as done:
        main(["sweep", "run", str(exp), "-w", str(root / "ws"), "--executor", "inprocess",
              "--json"])
    assert done.value.code == 0
    ws = Workspace.open(root / "ws")
    with ws.connect() as conn:
        runs = {r["config"]["epochs"]: r["id"] for r in list_runs(conn, status="finished")}
    ws.dispose()
    synth_knee_dataset(root / "site-d", cases_per_site=12, sites=[DEFAULT_SITES[3]], size=32,
                       seed=0)
    return {"root": root, "runs": runs, "manifest": root / "site-d" / "manifest.csv"}


@pytest.fixture
def workspace(trained, tmp_path):
    shutil.copytree(trained["root"] / "ws", tmp_path / "ws")
    return tmp_path / "ws"


def _report(stdout: str) -> dict:
    result = json.loads(stdout)
    with open(result["report"]["json"]) as handle:
        report = json.load(handle)
    assert report["scopes"] == result["scopes"] and report["data"] == result["data"]
    return report


def _common(report: dict, champion: str, candidate_epochs: int) -> dict:
    """Checks both outcomes share; returns the global scope's entry."""
    data = report["data"]
    first = report["reference_case_set"].removesuffix("-reference")
    assert data["parent_version"] == first != data["dataset_version"]
    assert data["reference_case_set"] == report["reference_case_set"]
    assert set(data["counts"]) == {"site-a", "site-b", "site-c", "site-d"}
    assert data["new_cases"] and all(c.startswith("site-d-") for c in data["new_cases"])
    assert data["new_test_cases"] and set(data["new_test_cases"]) <= set(data["new_cases"])
    [run] = report["runs"]
    assert (run["status"], run["epochs"]) == ("finished", candidate_epochs)
    assert report["candidates"] == [run["run_id"]]
    [scope] = report["scopes"]
    decision = scope["decision"]
    assert scope["scope"] == "global" and scope["candidate"] == run["run_id"]
    assert decision["candidate"] == run["run_id"] and decision["incumbents"] == [champion]
    assert decision["data"]["reference_case_set"] == report["reference_case_set"]
    assert decision["n_cases"] >= 4 and decision["criteria"]["primary"]["margin"] == 0.02
    selection = f"{data['dataset_version']}-val"  # chosen on the new validation split
    assert report["selection_case_set"] == selection
    assert scope["choice"] == {"chosen_from": 1,
                               "chosen_on": f"chosen on the selection set {selection}"}
    assert decision["look"]["chosen_from"] == 1 and decision["look"]["number"] == 1
    primary = [r for r in decision["results"] if r["name"] == "primary"]
    assert [r["incumbent"] for r in primary] == [champion]
    figures = {f["model"]: f for f in report["figures"] if f["metric"] == "dice"}
    assert set(figures) == {run["run_id"], champion}
    for figure in figures.values():  # both models scored on the reference set and new cases
        assert figure["n_reference"] == decision["n_cases"]
        assert figure["n_new_test_cases"] == len(data["new_test_cases"])
        assert set(figure["new_test_cases_by_site"]) == {"site-d"}
    assert figures[champion]["role"].startswith("champion v1 (global)")
    assert figures[run["run_id"]]["dataset_version"] == data["dataset_version"]
    return scope


def _state(ws_dir, run_id, test_set):
    ws = Workspace.open(ws_dir)
    with ws.connect() as conn:
        run = get_run(conn, run_id)
        scored = latest_evaluations(conn, test_set)
    ws.dispose()
    return run, scored


def test_a_better_candidate_is_promoted(run_cli, trained, workspace):
    weak, strong = trained["runs"][1], trained["runs"][8]
    exp = trained["root"] / "first.yaml"
    promoted = run_cli("promote", weak, "-w", workspace, "--experiment", exp, "--actor", "qa")
    assert promoted.code == 0, promoted.stderr
    assert "first version of scope global" in promoted.stdout

    result = run_cli("upgrade", exp, "--data", trained["manifest"], "-w", workspace,
                     "--executor", "inprocess", "--actor", "qa", "--json")
    assert result.code == 0, result.stderr
    report = _report(result.stdout)
    scope = _common(report, champion=weak, candidate_epochs=8)
    assert report["retrain"]["mode"] == "top_k" and report["retrain"]["chosen_from"] == [strong]
    candidate = scope["candidate"]
    assert (scope["status"], scope["champion"], report["promoted"]) == ("promoted", True, True)
    assert scope["decision"]["accepted"] and scope["version"]["status"] == "champion"
    assert scope["version"]["dataset_version"] == report["data"]["dataset_version"]
    primary = next(r for r in scope["decision"]["results"] if r["name"] == "primary")
    assert primary["passed"] and primary["ci"][0] > 0.02
    assert report["previous_champions"] == {"global": weak}

    run, scored = _state(workspace, candidate, report["data"]["test_case_set"])
    assert candidate not in trained["runs"].values()  # same configuration, new data, new id
    assert (run["config"]["epochs"], run["dataset_version"]) == (
        8, report["data"]["dataset_version"])
    assert {weak, candidate} <= set(scored)  # the old champion is backfilled on the new cases
    page = (workspace / "registry" / "decisions" /
            f"upgrade-knee-{report['data']['dataset_version']}.html").read_text()
    assert "PROMOTED" in page and "site-d" in page and "knee-global-v2.html" in page
    decision = json.loads((workspace / "registry/decisions/knee-global-v2.json").read_text())
    assert decision["decision"] == scope["decision"]

    shown = json.loads(run_cli("registry", "show", "-w", workspace, "--json").stdout)
    assert [(c["scope"], c["model_ref"], c["version"]) for c in shown] == [
        ("global", candidate, 2)]
    assert run_cli("audit", "verify", "-w", workspace).code == 0


def test_a_worse_candidate_is_rejected(run_cli, trained, workspace):
    strong = trained["runs"][8]
    first = trained["root"] / "first.yaml"
    assert run_cli("promote", strong, "-w", workspace, "--experiment", first).code == 0
    exp = _experiment(workspace.parent, "fewer-epochs", "1", "{retrain: sweep}")

    result = run_cli("upgrade", exp, "--data", trained["manifest"], "-w", workspace,
                     "--executor", "inprocess", "--json")
    assert result.code == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: upgrade to dv-")
    report = _report(result.stdout)
    scope = _common(report, champion=strong, candidate_epochs=1)
    assert report["retrain"] == {"mode": "sweep", "chosen_from": [], "source_version": None,
                                 "configs": []}
    assert (scope["status"], scope["champion"], report["promoted"]) == ("rejected", False, False)
    assert not scope["decision"]["accepted"] and scope["version"]["status"] == "rejected"
    primary = next(r for r in scope["decision"]["results"] if r["name"] == "primary")
    assert not primary["passed"] and primary["statistic"] < 0
    assert primary["explanation"] in scope["message"]

    shown = json.loads(run_cli("registry", "show", "-w", workspace, "--json").stdout)
    assert [(c["model_ref"], c["version"]) for c in shown] == [(strong, 1)]
    page = (workspace / "registry/decisions/knee-global-v2.html").read_text()
    assert "REJECTED" in page

    again = run_cli("upgrade", exp, "--data", trained["manifest"], "-w", workspace,
                    "--executor", "inprocess", "--json")  # re-running decides nothing twice
    assert again.code == 1
    [scope] = json.loads(again.stdout)["scopes"]
    assert scope["status"] == "unchanged" and "v2 (rejected)" in scope["message"]
    assert scope["decision"]["accepted"] is False  # the earlier decision, still in the report


def test_a_new_reference_set_of_never_seen_patients_restarts_the_budget(run_cli, trained,
                                                                        workspace, tmp_path):
    weak = trained["runs"][1]
    exp = trained["root"] / "first.yaml"
    assert run_cli("promote", weak, "-w", workspace, "--experiment", exp).code == 0
    old = json.loads(run_cli("registry", "show", "-w", workspace, "--json").stdout)[0]["budget"]
    synth_knee_dataset(tmp_path / "many", cases_per_site=30, sites=[DEFAULT_SITES[3]], size=32,
                       seed=1)

    result = run_cli("upgrade", exp, "--data", tmp_path / "many" / "manifest.csv", "-w",
                     workspace, "--executor", "inprocess", "--new-reference", "--json")
    report = _report(result.stdout)
    refresh, version = report["refresh"], report["data"]["dataset_version"]
    assert refresh["recorded"] and refresh["old_case_set"] == old["reference_case_set"]
    assert refresh["new_case_set"] == report["reference_case_set"] == f"{version}-reference"
    assert refresh["n_patients"] >= 4 and set(refresh["evaluated"]) == {
        weak, *report["candidates"]}
    new_cases = set(report["data"]["new_test_cases"])
    [scope] = report["scopes"]
    assert scope["status"] in ("promoted", "rejected"), scope["message"]  # judged, not refused
    decision = scope["decision"]
    assert decision["data"]["reference_case_set"] == refresh["new_case_set"]
    assert decision["incumbents"] == [weak] and decision["look"]["number"] == 1
    assert not [n for n in decision["notes"] if "reference set changed" in n]
    assert decision["n_cases"] == refresh["n_cases"] <= len(new_cases)

    ws = Workspace.open(workspace)
    with ws.connect() as conn:
        [event] = list_audit_events(conn, action="reference_refreshed")
        scored = latest_evaluations(conn, refresh["new_case_set"])
    ws.dispose()
    assert event["payload"]["new_hash"] == refresh["new_hash"] != old["reference_hash"]
    assert {weak, *report["candidates"]} <= set(scored)
    shown = json.loads(run_cli("registry", "show", "-w", workspace, "--json").stdout)
    assert shown[0]["budget"]["reference_case_set"] == refresh["new_case_set"]
    assert shown[0]["budget"]["looks"] == 1  # the upgrade's own gate, on the new reference set
    assert run_cli("audit", "verify", "-w", workspace).code == 0


def test_reviewed_new_cases_join_training_and_never_the_reference_set(run_cli, trained,
                                                                      workspace, tmp_path):
    """Unlabelled new cases are evaluated, one prediction is accepted by a reviewer, and
    ``upgrade --reviewed`` trains on that case: in the training split, audited, never in the
    new test split or the frozen reference set."""
    from medselect.store import add_review, case_set_members, get_cases

    weak, strong = trained["runs"][1], trained["runs"][8]
    exp = trained["root"] / "first.yaml"
    assert run_cli("promote", weak, "-w", workspace, "--experiment", exp).code == 0
    new = tmp_path / "lyon"
    new.mkdir()
    for image in sorted((trained["manifest"].parent / "images").glob("*.nii.gz"))[:3]:
        shutil.copy(image, new / image.name)
    evaluated = run_cli("evaluate", "--runs", strong, "--cases", new, "--site", "lyon", "-w",
                        workspace, "--json")
    assert evaluated.code == 0, evaluated.stderr
    queue = json.loads(run_cli("cases", "review-queue", "--case-set", "lyon", "-w", workspace,
                               "--json").stdout)
    case_set, reviewed = queue["case_set"], queue["cases"][0]["case_id"]
    ws = Workspace.open(workspace)
    with ws.begin() as conn:
        add_review(conn, model_ref=strong, case_set=case_set, case_id=reviewed,
                   reviewer="dr. ann", verdict="acceptable")
    ws.dispose()

    result = run_cli("upgrade", exp, "--reviewed", "lyon", "-w", workspace, "--executor",
                     "inprocess", "--json")
    assert result.code in (0, 1), result.stderr  # the gate may go either way; not asserted
    report = json.loads(result.stdout)
    joined = [c for c in report["reviewed"] if c["joins"]]
    assert [c["case_id"] for c in joined] == [reviewed] and len(report["reviewed"]) == 3
    assert report["data"]["new_cases"] == [reviewed] and report["data"]["new_test_cases"] == []
    ws = Workspace.open(workspace)
    with ws.connect() as conn:
        version = report["data"]["dataset_version"]
        split = {c["case_id"]: c["split"] for c in get_cases(conn, version)}
        held_out = {m["case_id"] for s in (report["data"]["test_case_set"],
                                           report["reference_case_set"])
                    for m in case_set_members(conn, s)}
        [event] = list_audit_events(conn, action="reviewed_cases_added")
    ws.dispose()
    assert split[reviewed] == "train" and reviewed not in held_out
    assert event["payload"]["dataset_version"] == version
    assert [c["case_id"] for c in event["payload"]["cases"]] == [reviewed]
    assert event["payload"]["cases"][0]["site"] == "lyon"
    assert "training split only" in event["payload"]["guarantee"]
    assert run_cli("audit", "verify", "-w", workspace).code == 0
