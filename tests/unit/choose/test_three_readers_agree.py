"""The CLI, the dashboard and the registry choose the same model for the same question: they
all rank through medselect.choose with the task's stored ranking rules (here a tie-break that
is not the dashboard's old hard-coded one)."""

import json
import warnings

import pytest

from medselect.choose import task_ranking
from medselect.dashboard import DashboardSettings, create_app
from medselect.registry.ordering import rank_models

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

OFFSETS = {"r-good": 0.05, "r-twin": 0.05, "r-fair": 0.0, "r-poor": -0.3}
RUNS = list(OFFSETS)


@pytest.mark.parametrize("aggregate", ["mean", "median"])
def test_cli_dashboard_and_registry_choose_the_same_model(knee, run_cli, aggregate):
    ws, evaluate = knee
    evaluate("v1-val", OFFSETS, seed=1)
    evaluate("v1-test", OFFSETS, seed=2)
    cli = run_cli("rank", "-w", ws.root, "--agg", aggregate, "--json")
    assert cli.code == 0, cli.stderr
    by_cli = json.loads(cli.stdout)
    assert by_cli["selection_set"] == "v1-val"

    app = create_app(DashboardSettings(workspace=ws.root), workspace=ws)
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        board = client.get("/api/leaderboard", params={"case_set": "v1-val",
                                                       "aggregate": aggregate}).json()

    with ws.connect() as conn:
        spec = task_ranking(conn, "knee").model_copy(update={"aggregate": aggregate})
        by_registry = rank_models(conn, "knee", "v1-val", RUNS, spec)[0]

    # r-good and r-twin are shown equivalent; the stored tie-break takes fewer parameters
    assert by_cli["chosen"] == board["best"] == by_registry == "r-twin"
