"""The Python face: ``medselect.rank`` on a plain table, and one ranking path, so the CLI, the
API, the dashboard's API and the static report choose the same model."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

import medselect as ms
from medselect.errors import RankingError
from medselect.store import Workspace, put_evaluation, replace_case_metrics

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient


def plain_table(rng=None) -> pd.DataFrame:
    """Three models on 30 cases of 10 patients at 2 sites: b best on dice and hd95."""
    rng = rng or np.random.default_rng(0)
    rows = []
    for model, shift in (("a", 0.0), ("b", 0.05), ("c", -0.05)):
        for case in range(30):
            site, patient = f"s{case % 2}", f"p{case // 3}"
            dice = 0.8 + shift + rng.normal(0, 0.01)
            rows += [{"model": model, "case_id": f"c{case}", "metric": "dice", "label": "mean",
                      "value": dice, "patient_id": patient, "site": site},
                     {"model": model, "case_id": f"c{case}", "metric": "hd95", "label": "mean",
                      "value": 10 * (1 - dice), "patient_id": patient, "site": site}]
    return pd.DataFrame(rows)


def test_import_medselect_is_light_and_exposes_the_api():
    out = subprocess.run([sys.executable, "-c", "import sys, medselect as m; "
                          "print('pandas' in sys.modules, callable(m.rank), m.rank)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.split()[:3] == ["False", "True", "<module"]
    from medselect.rank import leaderboard  # the package stays a package

    assert leaderboard(plain_table(), "hd95").best == "b"  # direction from the catalogue
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        ms.nope  # noqa: B018


@pytest.mark.parametrize("metric", ["dice", "hd95"])
def test_rank_a_plain_table_takes_the_direction_from_the_catalogue(metric):
    report = ms.rank(plain_table(), metric)
    board = report.leaderboard
    assert board.best == "b" and board.direction.value == ("higher" if metric == "dice"
                                                           else "lower")
    assert [r.model for r in board.rows] == ["b", "a", "c"]


def test_select_by_site_and_options():
    selection = ms.select_by_site(plain_table(), "dice", aggregate="median")
    assert {c.model for c in selection.choices} == {"b"}
    assert {c.group for c in selection.choices} == {"s0", "s1"}


@pytest.mark.parametrize(("change", "message"), [
    (lambda t: t.drop(columns="label"), r"lacks column\(s\) \['label'\]"),
    (lambda t: t.assign(value="x"), "non-numbers such as 'x'"),
    (lambda t: pd.concat([t, t.head(1)]), "repeat a \\(model, case_id, metric, label\\) key"),
])
def test_a_table_that_breaks_the_contract_is_named(change, message):
    with pytest.raises(RankingError, match=message):
        ms.rank(change(plain_table()), "dice")


def _val_twist(root) -> None:
    """Every model also evaluated on val, where run-a is best (on test run-b is)."""
    ws = Workspace.open(root)
    rank = {"run-a": 0.9, "run-b": 0.7, "external:nnunet": 0.5}
    with ws.begin() as conn:
        cases = [c["case_id"] for c in conn.exec_driver_sql(
            "SELECT case_id FROM \"case\" WHERE split = 'val'").mappings()]
        for model, base in rank.items():
            eid = f"e-{model}-val"
            put_evaluation(conn, {"id": eid, "model_ref": model, "case_set": "v1-val",
                                  "dataset_version": "v1", "status": "finished"})
            replace_case_metrics(conn, eid, [
                {"case_id": c, "metric": m, "label": label,
                 "value": base + 0.001 * i if m == "dice" else 10 - base}
                for i, c in enumerate(cases) for m in ("dice", "hd95")
                for label in ("femur", "tibia", "mean")])
    ws.dispose()


def test_cli_api_dashboard_and_report_choose_the_same_model(run_cli, make_cases_workspace,
                                                            tmp_path):
    from medselect.dashboard import DashboardSettings, create_app

    root = make_cases_workspace(tmp_path / "ws")
    _val_twist(root)
    cli = json.loads(run_cli("rank", "-w", root, "--json").stdout)["chosen"]
    with ms.open_workspace(root) as ws:
        api = ms.choose_model(ws).chosen
    settings = DashboardSettings(workspace=root, n_resamples=200, warm_up=False)
    with TestClient(create_app(settings), base_url="http://127.0.0.1:8000") as client:
        dashboard = client.get("/api/leaderboard").json()["choice"]["model"]
    assert run_cli("report", "-w", root, "--out", tmp_path / "report").code == 0
    html = (tmp_path / "report" / "index.html").read_text()
    report = re.search(r'id="choice".*?<a href="[^"]*">([^<]+)</a>', html, re.S).group(1)
    assert cli == api == dashboard == report == "run-a"  # chosen on val, not test's run-b
