"""The tables of a task's cases: the case list, its per-site counts, the per-case metric export."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from medselect.casetable import KEY_COLUMNS
from medselect.config import RankingSpec
from medselect.data import cases_by_site, export_case_metrics, task_cases
from medselect.errors import ConfigError, NotFound
from medselect.store import Workspace, case_metric_table, set_task_ranking


@pytest.fixture(scope="module")
def conn(evaluated_cases):
    ws = Workspace.open(evaluated_cases)
    with ws.connect() as connection:
        yield connection
    ws.dispose()


def test_export_is_the_store_table_of_the_test_set_with_case_set_and_attributes(conn):
    table = export_case_metrics(conn, "knee")
    assert list(table.columns) == [*KEY_COLUMNS, "patient_id", "site", "case_set", "age",
                                   "attribute_model"]
    assert len(table) == 3 * 8 * 2 * 3  # models x test cases x metrics x labels
    assert sorted(table["model"].unique()) == ["external:nnunet", "run-a", "run-b"]  # no run-c
    assert set(table["case_set"]) == {"v1-test"}
    stored = case_metric_table(conn, case_set="v1-test")
    pd.testing.assert_frame_equal(table[stored.columns], stored)


def test_export_values_are_the_newest_evaluation_and_nan_where_undefined(conn):
    table = export_case_metrics(conn, "knee").set_index(["model", "case_id", "metric", "label"])
    gap = table.loc["run-a", "value"] - table.loc["external:nnunet", "value"]
    assert gap.dropna().round(9).eq(0.1).all() and gap.notna().sum() == 8 * 2 * 3 - 3
    assert math.isnan(table.loc[("run-b", "test-b-p2-s0", "hd95", "mean"), "value"])
    row = table.loc[("run-b", "test-a-p0-s1", "dice", "mean")]
    assert (row["patient_id"], row["site"], row["age"], row["attribute_model"]) == (
        "test-a-p0", "a", "50", "scanner-a")
    assert pd.isna(table.loc[("run-b", "test-a-p1-s0", "dice", "mean"), "age"])


def test_export_filters_models_metrics_and_case_set(conn):
    table = export_case_metrics(conn, "knee", models=["run-b", "external:nnunet"],
                                metrics=["hd95"])
    assert sorted(table["model"].unique()) == ["external:nnunet", "run-b"]
    assert set(table["metric"]) == {"hd95"} and len(table) == 2 * 8 * 3
    val = export_case_metrics(conn, "knee", case_set="val")
    assert set(val["model"]) == {"run-a"} and set(val["case_set"]) == {"v1-val"}
    assert len(val) == 4 * 2 * 3


@pytest.mark.parametrize(("options", "message"), [
    ({"models": ["run-a", "run-aa"]}, "case set 'v1-test' of task 'knee': unknown model "
                                      "'run-aa'; did you mean 'run-a'? choose one of: "
                                      "external:nnunet, run-a, run-b"),
    ({"metrics": ["dcie"]}, "unknown metric 'dcie'; did you mean 'dice'? choose one of: dice, "
                            "hd95"),
    ({"case_set": "tset"}, "task 'knee' has no case set 'tset'; did you mean 'test'? it has "
                           "val, test, reference"),
    ({"case_set": "reference"}, "case set 'ref' of task 'knee' has no finished evaluation"),
])
def test_export_names_what_is_unknown_and_what_exists(conn, options, message):
    with pytest.raises(NotFound) as info:
        export_case_metrics(conn, "knee", **options)
    assert message in str(info.value)


def test_export_defaults_to_the_stored_confirmation_set(make_cases_workspace, tmp_path):
    ws = Workspace.open(make_cases_workspace(tmp_path / "ws"))
    with ws.begin() as conn:
        set_task_ranking(conn, "knee", RankingSpec(confirmation="val").model_dump(mode="json"))
    with ws.connect() as conn:
        assert set(export_case_metrics(conn, "knee")["case_set"]) == {"v1-val"}
    ws.dispose()


def test_task_cases_lists_patient_site_split_labelled_and_attributes(conn):
    cases = task_cases(conn, "knee").set_index("case_id")
    assert len(cases) == 4 + 4 + 8
    assert list(cases.columns) == ["patient_id", "site", "split", "labelled", "age", "model"]
    assert tuple(cases.loc["test-b-p0-s1", ["patient_id", "site", "split", "model"]]) == (
        "test-b-p0", "b", "test", "scanner-b")
    assert sorted(cases.index[~cases["labelled"]]) == ["train-a-p0-s0", "train-b-p0-s0"]
    assert pd.isna(cases.loc["test-a-p1-s0", "age"]) and cases.loc["val-a-p1-s0", "age"] == "51"
    reference = task_cases(conn, "knee", case_set="reference")
    assert set(reference["split"]) == {"test"} and len(reference) == 8
    assert task_cases(conn, "knee", version="v1").equals(task_cases(conn, "knee"))


def test_task_cases_refuses_an_unknown_version_and_two_sources(conn):
    with pytest.raises(NotFound, match="task 'knee': unknown dataset version 'v11'; did you "
                                       "mean 'v1'"):
        task_cases(conn, "knee", version="v11")
    with pytest.raises(ConfigError, match="not both"):
        task_cases(conn, "knee", case_set="test", version="v1")
    with pytest.raises(NotFound, match="task 'hip' has no dataset version"):
        task_cases(conn, "hip")


def test_cases_by_site_counts_patients_and_cases_per_split(conn):
    counts = cases_by_site(task_cases(conn, "knee"))
    assert counts.to_dict("records") == [
        {"site": site, "split": split, "patients": patients, "cases": cases}
        for site in ("a", "b")
        for split, patients, cases in (("train", 2, 2), ("val", 2, 2), ("test", 3, 4))]
