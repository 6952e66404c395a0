"""``medselect cases list`` and ``medselect cases export`` on a workspace written into the store."""

from __future__ import annotations

import io
import json
import sys

import pandas as pd
import pytest

from medselect.data import export_case_metrics
from medselect.store import Workspace

ATTRIBUTES = {"age": str, "attribute_model": str}  # attributes are text, as the manifest has them


@pytest.fixture(scope="module")
def stored(evaluated_cases):
    """What the library exports from the test set, every model and metric."""
    ws = Workspace.open(evaluated_cases)
    with ws.connect() as conn:
        table = export_case_metrics(conn, "knee")
    ws.dispose()
    return table


def _same(read: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(read.reset_index(drop=True), expected.reset_index(drop=True),
                                  check_dtype=False)


def test_export_csv_to_stdout_round_trips(run_cli, evaluated_cases, stored):
    result = run_cli("cases", "export", "-w", evaluated_cases)
    assert result.code == 0, result.stderr
    read = pd.read_csv(io.StringIO(result.stdout), dtype=ATTRIBUTES)
    assert len(read) == 3 * 8 * 2 * 3 and read["value"].isna().sum() == 3 * 3
    _same(read, stored)


def test_export_json_and_parquet_files_round_trip(run_cli, evaluated_cases, stored, tmp_path):
    result = run_cli("cases", "export", "-w", evaluated_cases, "--format", "json")
    assert result.code == 0, result.stderr
    _same(pd.DataFrame(json.loads(result.stdout)), stored)
    for format_, read in (("parquet", pd.read_parquet),
                          ("csv", lambda p: pd.read_csv(p, dtype=ATTRIBUTES))):
        out = tmp_path / f"cases.{format_}"
        result = run_cli("cases", "export", "-w", evaluated_cases, "--format", format_,
                         "--out", out)
        assert result.code == 0, result.stderr
        assert f"Wrote {len(stored)} rows (3 models, 8 cases)" in result.stdout
        _same(read(out), stored)


def test_export_filters_models_metrics_and_case_set(run_cli, evaluated_cases, stored):
    result = run_cli("cases", "export", "-w", evaluated_cases, "--model", "run-a", "--model",
                     "run-b", "--metric", "dice")
    assert result.code == 0, result.stderr
    read = pd.read_csv(io.StringIO(result.stdout), dtype=ATTRIBUTES)
    _same(read, stored[stored["model"].isin(["run-a", "run-b"]) & (stored["metric"] == "dice")])
    val = pd.read_csv(io.StringIO(run_cli("cases", "export", "-w", evaluated_cases,
                                          "--case-set", "val").stdout))
    assert set(val["case_set"]) == {"v1-val"} and set(val["model"]) == {"run-a"}
    assert set(val["case_id"]) == {"val-a-p0-s0", "val-a-p1-s0", "val-b-p0-s0", "val-b-p1-s0"}


@pytest.mark.parametrize(("option", "message"), [
    (["--model", "run-bb"], "unknown model 'run-bb'; did you mean 'run-b'? choose one of: "
                            "external:nnunet, run-a, run-b"),
    (["--metric", "hd96"], "unknown metric 'hd96'; did you mean 'hd95'? choose one of: dice, "
                           "hd95"),
    (["--case-set", "tst"], "task 'knee' has no case set 'tst'; did you mean 'test'?"),
    (["--task", "hip"], "task 'hip' is not in the workspace"),
    (["--format", "parquet"], "--format parquet writes a binary file: give --out FILE"),
])
def test_export_errors_name_the_value_and_what_exists(run_cli, evaluated_cases, option,
                                                      message):
    result = run_cli("cases", "export", "-w", evaluated_cases, *option)
    assert result.code == 1 and message in result.stderr
    assert result.stdout == ""


def test_parquet_without_pyarrow_says_what_to_install(run_cli, evaluated_cases, tmp_path,
                                                      monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # `import pyarrow` now fails
    result = run_cli("cases", "export", "-w", evaluated_cases, "--format", "parquet",
                     "--out", tmp_path / "t.parquet")
    assert result.code == 1 and "pip install 'medselect[parquet]'" in result.stderr
    assert not (tmp_path / "t.parquet").exists()


def test_list_shows_patient_and_site_of_each_case_and_per_site_counts(run_cli,
                                                                      evaluated_cases):
    result = run_cli("cases", "list", "-w", evaluated_cases, "--case-set", "test")
    assert result.code == 0, result.stderr
    lines = {line.split()[1]: line.split() for line in result.stdout.splitlines()
             if line.startswith("│ test-")}
    assert len(lines) == 8
    assert lines["test-b-p0-s1"][3:10:2] == ["test-b-p0", "b", "test", "yes"]
    assert "patients and cases per site and split" in result.stdout


def test_list_json_parses_with_cases_and_sites(run_cli, evaluated_cases):
    result = run_cli("cases", "list", "-w", evaluated_cases, "--json")
    assert result.code == 0, result.stderr
    listed = json.loads(result.stdout)
    cases = {c["case_id"]: c for c in listed["cases"]}
    assert listed["task"] == "knee" and len(cases) == 16
    assert cases["train-a-p0-s0"] == {"case_id": "train-a-p0-s0", "patient_id": "train-a-p0",
                                      "site": "a", "split": "train", "labelled": False,
                                      "age": "50", "model": "scanner-a"}
    assert cases["test-a-p1-s0"]["age"] is None
    assert {"site": "b", "split": "test", "patients": 3, "cases": 4} in listed["sites"]


def test_list_unknown_version_is_a_one_line_error(run_cli, evaluated_cases):
    result = run_cli("cases", "list", "-w", evaluated_cases, "--version", "v11")
    assert result.code == 1
    assert result.stderr.strip() == ("error: task 'knee': unknown dataset version 'v11'; did "
                                     "you mean 'v1'? choose one of: v1")
