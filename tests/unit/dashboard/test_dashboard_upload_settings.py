"""Uploads are evaluated like everything else: with the experiment's evaluation settings
(metrics, NSD tolerance), so the same image, label and model give identical values through the
CLI and through an upload (an upload once scored NSD at the default 1 mm: 0.557 against 0.753).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from medselect.cli.main import main
from medselect.data.phantom import synth_knee_dataset
from medselect.store import Workspace, case_metric_table, list_evaluations

pytestmark = pytest.mark.slow

SETTINGS = "evaluation: {metrics: [dice, nsd], nsd_tolerance_mm: 3.0}"


def _cli(*args) -> None:
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        assert not exc.code, f"medselect {' '.join(map(str, args))} failed ({exc.code})"


def test_an_upload_computes_what_the_cli_computes(tmp_path, write_tiny_experiment, make_client):
    exp = write_tiny_experiment(tmp_path, space="architecture: unet, epochs: 1",
                                extra=SETTINGS)
    ws_dir = tmp_path / "ws"
    _cli("sweep", "run", exp, "-w", ws_dir, "--executor", "inprocess")
    _cli("evaluate", exp, "-w", ws_dir)  # val and test, with the experiment's settings
    records = synth_knee_dataset(tmp_path / "new", cases_per_site=6, size=32, seed=0)
    [case] = [r for r in records if r.patient_id.endswith("p005")][:1]
    ws = Workspace.open(ws_dir)
    client = make_client(ws)
    answer = client.post("/api/uploads", files=[
        ("images", ("case0.nii.gz", Path(case.images[0]).read_bytes())),
        ("labels", ("case0_label.nii.gz", Path(case.label).read_bytes()))])
    assert answer.status_code == 202, answer.text
    deadline = time.monotonic() + 120
    while (status := client.get(answer.json()["status_url"]).json())["status"] not in (
            "finished", "failed") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert status["status"] == "finished", status
    with ws.connect() as conn:
        [uploaded] = list_evaluations(conn, case_set=status["case_set"])
        by_upload = case_metric_table(conn, case_set=status["case_set"])
    policy = uploaded["metric_policy"]
    assert policy["order"] == ["dice", "nsd"]
    assert set(policy["nsd_tolerance_mm"].values()) == {3.0}
    # the same files through the CLI, as new cases of the task
    folder = tmp_path / "cli-cases"
    folder.mkdir()
    (folder / "case0_0000.nii.gz").write_bytes(Path(case.images[0]).read_bytes())
    labels = tmp_path / "cli-labels"
    labels.mkdir()
    (labels / "case0.nii.gz").write_bytes(Path(case.label).read_bytes())
    _cli("evaluate", "-w", ws_dir, "--cases", folder, "--labels", labels)
    with ws.connect() as conn:
        cli_set = [e["case_set"] for e in list_evaluations(conn)
                   if e["case_set"] not in (status["case_set"],) and "new" in e["case_set"]]
        by_cli = case_metric_table(conn, case_set=cli_set[-1])
    ws.dispose()
    key = ["metric", "label"]
    upload_values = by_upload.set_index(key)["value"].sort_index()
    cli_values = by_cli.set_index(key)["value"].sort_index()
    assert len(upload_values) and upload_values.round(12).equals(cli_values.round(12))
