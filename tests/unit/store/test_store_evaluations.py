"""Evaluations, case metrics, predictions and external models round-trip; the per-case table."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from medselect.errors import NotFound, StoreError
from medselect.store import (
    add_case_set,
    add_dataset_version,
    case_metric_table,
    evaluated_metrics,
    find_evaluation,
    get_cases,
    get_evaluation,
    get_external_model,
    get_predictions,
    latest_evaluations,
    list_evaluations,
    predictions_of_case,
    put_evaluation,
    put_external_model,
    put_task,
    replace_case_metrics,
    replace_predictions,
    set_evaluation_status,
)
from medselect.store.schema import case_metric

T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def test_set(ws, make_case) -> str:
    """Version "v1" with cases a, b (site north), c (site south), test set "ts" of a, b, c."""
    rows = [make_case("a", "test", site="north"), make_case("b", "test", site="north"),
            make_case("c", "test", site="south"), make_case("d", "train")]
    with ws.begin() as conn:
        put_task(conn, "knee", "segmentation")
        add_dataset_version(conn, {"id": "v1", "task": "knee"}, rows)
        add_case_set(conn, {"id": "ts", "name": "test", "task": "knee",
                            "dataset_version": "v1", "kind": "test"}, ["a", "b", "c"])
    return "ts"


def _evaluation(evaluation_id: str, model_ref: str, **extra) -> dict:
    return {"id": evaluation_id, "model_ref": model_ref, "case_set": "ts",
            "dataset_version": "v1", **extra}


def test_put_evaluation_inserts_then_updates_given_fields(ws, test_set):
    with ws.begin() as conn:
        new = put_evaluation(conn, _evaluation("e1", "r1", metric_policy={"hd95": "max"}))
        again = put_evaluation(conn, {"id": "e1", "duration_s": 2.5})
        assert get_evaluation(conn, "e1") == again
    assert (new["status"], new["metric_policy"], new["duration_s"]) == (
        "pending", {"hd95": "max"}, None)
    assert (again["status"], again["duration_s"], again["model_ref"]) == ("pending", 2.5, "r1")


def test_put_evaluation_refuses_bad_rows(ws, test_set):
    with ws.begin() as conn:
        with pytest.raises(StoreError, match="'id' field is required"):
            put_evaluation(conn, {"model_ref": "r1"})
        with pytest.raises(StoreError, match=r"evaluation 'e1': unknown field\(s\) \['colour'\]"):
            put_evaluation(conn, _evaluation("e1", "r1", colour="red"))
        with pytest.raises(StoreError, match=r"evaluation 'e1': status must be one of"):
            put_evaluation(conn, _evaluation("e1", "r1", status="done"))
        with pytest.raises(StoreError, match="evaluation 'e2' was rejected by the database"):
            put_evaluation(conn, _evaluation("e2", "r1", case_set="nope"))
    with ws.connect() as conn, pytest.raises(NotFound, match="evaluation 'e9'"):
        get_evaluation(conn, "e9")


def test_find_and_list_evaluations(ws, test_set):
    with ws.begin() as conn:
        put_evaluation(conn, _evaluation("e1", "r1", created_at=T0))
        put_evaluation(conn, _evaluation("e2", "r1", created_at=T0 + timedelta(hours=1)))
        put_evaluation(conn, _evaluation("e3", "r2", created_at=T0, status="finished"))
    with ws.connect() as conn:
        assert find_evaluation(conn, "r1", "ts")["id"] == "e2"
        assert find_evaluation(conn, "r1", "ts", dataset_version="v1")["id"] == "e2"
        assert find_evaluation(conn, "r1", "ts", dataset_version="v0") is None
        assert find_evaluation(conn, "r9", "ts") is None
        assert [e["id"] for e in list_evaluations(conn)] == ["e1", "e3", "e2"]
        assert [e["id"] for e in list_evaluations(conn, model_ref="r1")] == ["e1", "e2"]
        assert [e["id"] for e in list_evaluations(conn, case_set="ts", status="finished")] == [
            "e3"]
        with pytest.raises(StoreError, match="evaluation status must be one of"):
            list_evaluations(conn, status="done")


def test_set_evaluation_status(ws, test_set):
    with ws.begin() as conn:
        put_evaluation(conn, _evaluation("e1", "r1"))
        done = set_evaluation_status(conn, "e1", "finished", duration_s=12)
        with pytest.raises(NotFound, match="evaluation 'e9'"):
            set_evaluation_status(conn, "e9", "finished")
        with pytest.raises(StoreError, match="evaluation status must be one of"):
            set_evaluation_status(conn, "e1", "done")
    assert (done["status"], done["duration_s"]) == ("finished", 12.0)


def test_replace_case_metrics_replaces_and_stores_nan_as_null(ws, test_set):
    with ws.begin() as conn:
        put_evaluation(conn, _evaluation("e1", "r1"))
        replace_case_metrics(conn, "e1", [{"case_id": "a", "metric": "dice", "value": 0.1}])
        n = replace_case_metrics(conn, "e1", [
            {"case_id": "a", "metric": "dice", "label": "femur", "value": 0.9},
            {"case_id": "a", "metric": "hd95", "value": float("nan")},
            {"case_id": "b", "metric": "hd95", "label": None, "value": None},
        ])
        stored = conn.execute(sa.select(case_metric.c.case_id, case_metric.c.metric,
                                        case_metric.c.label, case_metric.c.value)
                              .order_by(case_metric.c.case_id, case_metric.c.metric)).all()
    assert n == 3
    assert [tuple(r) for r in stored] == [("a", "dice", "femur", 0.9), ("a", "hd95", "", None),
                                          ("b", "hd95", "", None)]


def test_replace_case_metrics_refuses_bad_rows_and_keeps_old_ones(ws, test_set):
    with ws.begin() as conn:
        put_evaluation(conn, _evaluation("e1", "r1"))
        replace_case_metrics(conn, "e1", [{"case_id": "a", "metric": "dice", "value": 0.5}])
    with ws.begin() as conn:
        with pytest.raises(StoreError, match="evaluation 'e1': missing field 'value'"):
            replace_case_metrics(conn, "e1", [{"case_id": "a", "metric": "dice"}])
        with pytest.raises(NotFound, match="evaluation 'e9'"):
            replace_case_metrics(conn, "e9", [])
    with pytest.raises(StoreError, match="case metrics of evaluation 'e1' was rejected"), \
            ws.begin() as conn:
        row = {"case_id": "b", "metric": "dice", "value": 0.7}
        replace_case_metrics(conn, "e1", [row, row])
    with ws.connect() as conn:
        values = conn.execute(sa.select(case_metric.c.case_id, case_metric.c.value)).all()
    assert [tuple(v) for v in values] == [("a", 0.5)]


def test_replace_case_metrics_in_bulk(ws, test_set):
    rows = [{"case_id": f"c{i}", "metric": "dice", "label": str(k), "value": i / 20_000}
            for i in range(5000) for k in range(4)]
    with ws.begin() as conn:
        put_evaluation(conn, _evaluation("e1", "r1"))
        assert replace_case_metrics(conn, "e1", iter(rows)) == 20_000
        count = conn.execute(sa.select(sa.func.count()).select_from(case_metric)).scalar_one()
    assert count == 20_000


def test_predictions_round_trip(ws, test_set):
    with ws.begin() as conn:
        put_evaluation(conn, _evaluation("e1", "r1"))
        replace_predictions(conn, "e1", [{"case_id": "x", "status": "ok"}])
        replace_predictions(conn, "e1", [
            {"case_id": "b", "status": "missing", "error": "no prediction file b.nii.gz"},
            {"case_id": "a", "status": "ok", "prediction_uri": "evaluations/e1/a.nii.gz",
             "overlay_uri": "evaluations/e1/a.png", "thumbnail_uri": "evaluations/e1/a_t.png"},
        ])
        rows = get_predictions(conn, "e1")
        only_b = get_predictions(conn, "e1", case_ids=["b", "z"])
        put_evaluation(conn, _evaluation("e2", "r2"))
        replace_predictions(conn, "e2", [{"case_id": "a", "status": "error", "error": "shape"}])
        of_a = predictions_of_case(conn, "a", ["e1", "e2", "e9"])
        with pytest.raises(StoreError, match="prediction of case 'a' in evaluation 'e1': status"):
            replace_predictions(conn, "e1", [{"case_id": "a", "status": "fine"}])
        with pytest.raises(StoreError, match=r"unknown field\(s\) \['colour'\]"):
            replace_predictions(conn, "e1", [{"case_id": "a", "status": "ok", "colour": 1}])
        with pytest.raises(NotFound, match="evaluation 'e9'"):
            get_predictions(conn, "e9")
    assert [(r["case_id"], r["status"]) for r in rows] == [("a", "ok"), ("b", "missing")]
    assert only_b == rows[1:]
    assert rows[0]["overlay_uri"] == "evaluations/e1/a.png"
    assert rows[1]["error"] == "no prediction file b.nii.gz"
    assert {k: v["status"] for k, v in of_a.items()} == {"e1": "ok", "e2": "error"}


def _fill(ws) -> None:
    """r1 (finished, superseded by e1b), r2 finished, r3 still running."""
    with ws.begin() as conn:
        for eid, ref, status, hours in [("e1", "r1", "finished", 0), ("e1b", "r1", "finished", 1),
                                        ("e2", "r2", "finished", 0), ("e3", "r3", "running", 0)]:
            put_evaluation(conn, _evaluation(eid, ref, status=status,
                                             created_at=T0 + timedelta(hours=hours)))
            value = {"e1": 0.0, "e1b": 0.8, "e2": 0.6, "e3": 0.5}[eid]
            replace_case_metrics(conn, eid, [
                {"case_id": "c", "metric": "dice", "label": "femur", "value": value},
                {"case_id": "a", "metric": "dice", "label": "femur", "value": value},
                {"case_id": "a", "metric": "hd95", "label": "", "value": math.nan},
                {"case_id": "d", "metric": "dice", "label": "femur", "value": 1.0},  # not in ts
            ])


def test_case_metric_table_contract(ws, test_set):
    _fill(ws)
    with ws.connect() as conn:
        table = case_metric_table(conn, case_set="ts")
        assert set(latest_evaluations(conn, "ts")) == {"r1", "r2"}
    assert list(table.columns) == ["model", "case_id", "metric", "label", "value", "patient_id",
                                   "site"]
    assert table[["model", "case_id", "metric", "label", "site"]].values.tolist() == [
        ["r1", "a", "dice", "femur", "north"], ["r1", "a", "hd95", "", "north"],
        ["r1", "c", "dice", "femur", "south"],
        ["r2", "a", "dice", "femur", "north"], ["r2", "a", "hd95", "", "north"],
        ["r2", "c", "dice", "femur", "south"],
    ]
    assert table["value"].dtype == float
    assert table["value"].tolist()[:1] == [0.8]  # the newest finished evaluation of r1
    assert table["value"].isna().tolist() == [False, True, False, False, True, False]
    patients = dict(zip(table["case_id"], table["patient_id"], strict=True))
    with ws.connect() as conn:
        stored = {c["case_id"]: c["patient_id"] for c in get_cases(conn, "v1")}
    assert patients == {c: stored[c] for c in ("a", "c")}


def test_case_metric_table_filters(ws, test_set):
    _fill(ws)
    with ws.connect() as conn:
        table = case_metric_table(conn, case_set="ts", model_refs=["r2", "r3"], metrics=["dice"])
        hd95 = case_metric_table(conn, case_set="ts", labels=[""])
        only_c = case_metric_table(conn, case_set="ts", case_ids=["c", "d"])
        none = case_metric_table(conn, case_set="ts", model_refs=["r9"])
        assert evaluated_metrics(conn, "e2") == [("dice", "femur"), ("hd95", "")]
        with pytest.raises(NotFound, match="case set 'nope'"):
            case_metric_table(conn, case_set="nope")
    assert table[["model", "case_id", "value"]].values.tolist() == [["r2", "a", 0.6],
                                                                    ["r2", "c", 0.6]]
    assert hd95[["model", "metric"]].values.tolist() == [["r1", "hd95"], ["r2", "hd95"]]
    assert only_c[["model", "case_id", "site"]].values.tolist() == [["r1", "c", "south"],
                                                                     ["r2", "c", "south"]]
    assert none.empty
    assert list(none.columns) == list(table.columns)
    assert pd.api.types.is_float_dtype(none["value"])


def test_external_model_round_trip(ws, test_set):
    with ws.begin() as conn:
        new = put_external_model(conn, {"name": "nnunet", "task": "knee",
                                        "source_uri": "/data/nnunet_out"})
        updated = put_external_model(conn, {"name": "nnunet", "description": "3d_fullres"})
        assert get_external_model(conn, "external:nnunet") == updated
        with pytest.raises(StoreError, match="external model: the 'name' field is required"):
            put_external_model(conn, {"task": "knee"})
        with pytest.raises(StoreError, match="external model 'x' was rejected"):
            put_external_model(conn, {"name": "x", "task": "spine"})
        with pytest.raises(NotFound, match="external model 'other'"):
            get_external_model(conn, "other")
    assert (new["description"], new["source_uri"]) == ("", "/data/nnunet_out")
    assert (updated["description"], updated["source_uri"]) == ("3d_fullres", "/data/nnunet_out")
