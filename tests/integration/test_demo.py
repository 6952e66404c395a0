"""``medselect demo --quick --no-serve``: the whole journey, end to end, in seconds."""

from __future__ import annotations

import json

import pytest

from medselect.store import Workspace, get_task, list_runs
from medselect.store.schema import model_version

pytestmark = pytest.mark.slow


def test_quick_demo_runs_every_step(run_cli, tmp_path, db_url):
    """On SQLite and on PostgreSQL (``--db-url``, then found through workspace.toml)."""
    ws_dir = tmp_path / "ws"
    engine = ("--db-url", db_url) if db_url else ()
    result = run_cli(*engine, "demo", "-w", ws_dir, "--no-serve", "--quick")
    assert result.code == 0, result.stderr
    for step in ("1. data", "2. sweep: 8 configurations", "3. evaluation", "4. ranking",
                 "5. registry", "6. predict", "7. dashboard", "demo wall time"):
        assert step in result.stdout
    assert "best model" in result.stdout and "site" in result.stdout
    data = result.stdout[:result.stdout.index("2. sweep")]
    assert "patients (cases) per site and split" in data
    assert "warning: site " in data and "fewer than 3" in data  # 8 cases a site: 1-2 test patients
    held_out = next(line for line in data.splitlines() if "site-e" in line)
    assert "│ 0 (0)" in held_out  # site-e is held out of training: val and test only
    evaluation = result.stdout[result.stdout.index("3. evaluation"):
                               result.stdout.index("4. ranking")]
    assert "every case of val, test" in evaluation
    assert evaluation.index("(val, ") < evaluation.index("(test, ")  # the selection set first
    assert "selects the model" in evaluation and "confirms the choice" in evaluation
    assert (ws_dir / "report" / "index.html").is_file()
    assert (ws_dir / "workspace.toml").is_file() == bool(db_url)
    assert (ws_dir / "medselect.db").is_file() != bool(db_url)
    ws = Workspace.open(ws_dir)
    with ws.connect() as conn:
        runs = list_runs(conn)
        ranking = get_task(conn, "knee-segmentation-quick")["ranking"]
        champions = conn.execute(
            model_version.select().where(model_version.c.status == "champion")).all()
    assert len(runs) == 8 and {r["status"] for r in runs} == {"finished"}
    assert len(champions) >= 1  # the global one; site ones where a site's own model is better
    predicted = json.loads((ws_dir / "predictions" / "predictions.json").read_text())
    assert predicted["scope"] == "auto" and predicted["n_cases"] == len(predicted["cases"]) > 0
    assert (ranking["metric"], ranking["selection"]["case_set"]) == ("dice", "val")
    ranked = run_cli("rank", "-w", ws_dir, "--by", "site", "--json")
    assert ranked.code == 0, ranked.stderr
    assert len(json.loads(ranked.stdout)["ranking"]["leaderboard"]["rows"]) == 8
