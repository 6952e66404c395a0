"""``medselect demo --quick --no-serve``: the whole journey, end to end, in seconds."""

from __future__ import annotations

import json

import pytest

from medselect.store import Workspace, list_runs
from medselect.store.schema import model_version

pytestmark = pytest.mark.slow


def test_quick_demo_runs_every_step(run_cli, tmp_path):
    ws_dir = tmp_path / "ws"
    result = run_cli("demo", "-w", ws_dir, "--no-serve", "--quick")
    assert result.code == 0, result.stderr
    for step in ("1. data", "2. sweep: 8 configurations", "3. evaluation", "4. ranking",
                 "5. registry", "6. dashboard", "demo wall time"):
        assert step in result.stdout
    assert "best model" in result.stdout and "site" in result.stdout
    assert (ws_dir / "report" / "index.html").is_file()
    ws = Workspace.open(ws_dir)
    with ws.connect() as conn:
        runs = list_runs(conn)
        champions = conn.execute(
            model_version.select().where(model_version.c.status == "champion")).all()
    assert len(runs) == 8 and {r["status"] for r in runs} == {"finished"}
    assert len(champions) == 1
    ranked = run_cli("rank", "-w", ws_dir, "--by", "site", "--json")
    assert ranked.code == 0, ranked.stderr
    assert len(json.loads(ranked.stdout)["ranking"]["leaderboard"]["rows"]) == 8
