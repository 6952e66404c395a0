"""The registry commands on two tiny trained runs: promote (through the gate, evaluating what is
missing first), registry show/history/backfill, rollback, audit verify, and the refusals.

The runs train once (1 and 8 epochs on the 32x32 phantom; mean Dice about 0.14 and 0.5 on the
7 reference cases), unevaluated, and each test works on a copy of that workspace.
"""

from __future__ import annotations

import json
import shutil

import pytest
import sqlalchemy as sa

from medselect.store import Workspace, latest_evaluations, list_runs, set_run_status, upsert_run

pytestmark = pytest.mark.slow

CLASSES = "[background, femur, tibia, patella, femoral_cartilage, tibial_cartilage]"
EXPERIMENT = f"""
task: {{name: knee, kind: segmentation, spatial_dims: 2, classes: {CLASSES}}}
data: {{source: {{kind: phantom, cases_per_site: 10, sites: 3, size: 32, seed: 0}}}}
sweep:
  name: tiny
  space: {{architecture: unet, loss: dice_ce, epochs: [1, 8], batch_size: 4,
           input_size: [32, 32], depth: 2, features: 8}}
  workers: 1
  threads_per_worker: 1
evaluation: {{metrics: [dice, hd95], overlays: false}}
promotion: {{primary: {{metric: dice, margin: 0.02}}, min_cases: 4}}
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from medselect.cli.main import main

    root = tmp_path_factory.mktemp("registry-cli")
    exp = root / "tiny.yaml"
    exp.write_text(EXPERIMENT)
    with pytest.raises(SystemExit) as done:
        main(["sweep", "run", str(exp), "-w", str(root / "ws"), "--executor", "inprocess",
              "--json"])
    assert done.value.code == 0
    ws = Workspace.open(root / "ws")
    with ws.connect() as conn:
        runs = {r["config"]["epochs"]: r["id"] for r in list_runs(conn, status="finished")}
    ws.dispose()
    return {"root": root, "exp": exp, "weak": runs[1], "strong": runs[8]}


@pytest.fixture
def ws_dir(trained, tmp_path):
    shutil.copytree(trained["root"] / "ws", tmp_path / "ws")
    return tmp_path / "ws"


def _json(result):
    return json.loads(result.stdout)


def _reference_evaluations(ws_dir):
    ws = Workspace.open(ws_dir)
    with ws.connect() as conn:
        reference = conn.execute(sa.text("SELECT reference_case_set FROM dataset_version")
                                 ).scalar_one()
        found = latest_evaluations(conn, reference)
    ws.dispose()
    return set(found)


def test_promote_show_history_rollback_and_audit(run_cli, trained, ws_dir):
    weak, strong, exp = trained["weak"], trained["strong"], trained["exp"]
    assert _reference_evaluations(ws_dir) == set()

    first = run_cli("promote", weak, "-w", ws_dir, "--experiment", exp, "--actor", "alice")
    assert first.code == 0, first.stderr
    assert "first version of scope global" in first.stdout and "PROMOTED" in first.stdout
    assert _reference_evaluations(ws_dir) == {weak}  # evaluated on the reference set first
    report = ws_dir / "registry" / "decisions" / "knee-global-v1.json"
    assert json.loads(report.read_text())["decision"]["incumbents"] == []
    assert (ws_dir / "registry" / "decisions" / "knee-global-v1.html").is_file()

    better = run_cli("promote", strong, "-w", ws_dir, "--experiment", exp, "--actor", "alice",
                     "--json")
    assert better.code == 0, better.stderr
    outcome = _json(better)
    assert (outcome["promoted"], outcome["first_version"]) == (True, False)
    names = [r["name"] for r in outcome["decision"]["results"]]
    assert names == ["min_patients", "primary"] and outcome["decision"]["incumbents"] == [weak]
    assert outcome["version"]["version"] == 2 and outcome["report"]["html"].endswith("v2.html")

    worse = run_cli("promote", weak, "-w", ws_dir, "--experiment", exp)
    assert worse.code == 1
    [line] = worse.stderr.strip().splitlines()
    assert line.startswith(f"error: {weak} is rejected: dice") and "must beat" in line
    assert "FAIL primary: dice" in worse.stdout and "pass min_patients" in worse.stdout

    shown = _json(run_cli("registry", "show", "-w", ws_dir, "--json"))
    assert [(c["scope"], c["model_ref"], c["version"]) for c in shown] == [("global", strong, 2)]
    assert shown[0]["evidence"]["incumbents"] == [weak] and shown[0]["report"].endswith(".html")
    table = run_cli("registry", "show", "-w", ws_dir).stdout
    assert f"knee global v2: {strong} is accepted" in table and "knee-global-v2.html" in table
    history = _json(run_cli("registry", "history", "-w", ws_dir, "--scope", "global", "--json"))
    assert [(v["version"], v["model_ref"], v["status"]) for v in history] == [
        (1, weak, "retired"), (2, strong, "champion"), (3, weak, "rejected")]

    assert run_cli("rollback", "-w", ws_dir).code == 2  # --reason is required
    back = run_cli("rollback", "-w", ws_dir, "--reason", "cartilage misses at site-b",
                   "--actor", "bob")
    assert back.code == 0, back.stderr
    assert f"{weak} (v1) is the champion of knee in global again" in back.stdout
    history = _json(run_cli("registry", "history", "-w", ws_dir, "--json"))
    assert [v["status"] for v in history] == ["champion", "rejected", "rejected"]
    assert history[1]["evidence"]["rolled_back"]["reason"] == "cartilage misses at site-b"
    assert run_cli("registry", "history", "-w", ws_dir).code == 0

    verified = run_cli("audit", "verify", "-w", ws_dir)
    assert verified.code == 0 and "audit log intact: 4 event(s)" in verified.stdout
    ws = Workspace.open(ws_dir)
    with ws.begin() as conn:  # rewrite who promoted v2, as someone with database access could
        conn.execute(sa.text("UPDATE audit_event SET actor = 'mallory' WHERE seq = 2"))
    ws.dispose()
    broken = run_cli("audit", "verify", "-w", ws_dir, "--json")
    assert broken.code == 1
    assert _json(broken)["first_bad_seq"] == 2 and _json(broken)["ok"] is False
    assert "error: audit log broken at event 2:" in broken.stderr


def test_force_needs_a_reason_and_records_it(run_cli, trained, ws_dir):
    weak, strong, exp = trained["weak"], trained["strong"], trained["exp"]
    assert run_cli("promote", strong, "-w", ws_dir, "--experiment", exp).code == 0

    refused = run_cli("promote", weak, "-w", ws_dir, "--experiment", exp, "--force")
    assert refused.code == 1 and "--force needs --reason" in refused.stderr
    alone = run_cli("promote", weak, "-w", ws_dir, "--reason", "because")
    assert alone.code == 1 and "--reason goes with --force" in alone.stderr
    assert len(_json(run_cli("registry", "history", "-w", ws_dir, "--json"))) == 1

    forced = run_cli("promote", weak, "-w", ws_dir, "--experiment", exp, "--force",
                     "--reason", "site-a radiologists prefer it", "--json")
    assert forced.code == 0, forced.stderr
    outcome = _json(forced)
    assert (outcome["promoted"], outcome["forced"]) == (True, True)
    assert outcome["decision"]["accepted"] is False
    assert outcome["version"]["reason"] == "site-a radiologists prefer it"
    ws = Workspace.open(ws_dir)
    with ws.connect() as conn:
        payload = conn.execute(sa.text("SELECT payload FROM audit_event ORDER BY seq DESC")
                               ).scalars().first()
    ws.dispose()
    event = json.loads(payload) if isinstance(payload, str) else payload
    assert event["forced"] is True and event["reason"] == "site-a radiologists prefer it"


def test_failed_and_unknown_runs_are_refused(run_cli, trained, ws_dir):
    ws = Workspace.open(ws_dir)
    with ws.begin() as conn:
        version = conn.execute(sa.text("SELECT id FROM dataset_version")).scalar_one()
        upsert_run(conn, {"id": "run-broken", "task": "knee", "dataset_version": version,
                          "config": {}, "config_hash": "broken"})
        set_run_status(conn, "run-broken", "running")
        set_run_status(conn, "run-broken", "failed", error="CUDA out of memory")
    ws.dispose()

    failed = run_cli("promote", "run-broken", "-w", ws_dir, "--experiment", trained["exp"])
    assert failed.code == 1
    assert "run 'run-broken' is failed (CUDA out of memory)" in failed.stderr
    unknown = run_cli("promote", "run-nope", "-w", ws_dir)
    assert unknown.code == 1 and "'run-nope' is not a run" in unknown.stderr
    assert _json(run_cli("registry", "history", "-w", ws_dir, "--json")) == []
    assert _reference_evaluations(ws_dir) == set()  # refused before evaluating anything


def test_backfill_scores_registered_versions_on_the_test_set(run_cli, trained, ws_dir):
    weak, exp = trained["weak"], trained["exp"]
    assert run_cli("promote", weak, "-w", ws_dir, "--experiment", exp).code == 0

    result = run_cli("registry", "backfill", "-w", ws_dir, "--experiment", exp, "--json")
    assert result.code == 0, result.stderr
    backfilled = _json(result)
    assert backfilled["case_set"].endswith("-test") and backfilled["skipped"] == {}
    [model] = backfilled["models"]
    assert model["model_ref"] == weak and model["n_ok"] == model["n_cases"] > 0
    again = _json(run_cli("registry", "backfill", "-w", ws_dir, "--experiment", exp, "--json"))
    assert [m["status"] for m in again["models"]] == ["reused"]
