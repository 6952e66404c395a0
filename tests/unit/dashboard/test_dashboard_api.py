"""The JSON API: shapes, orders, parameters and the errors a caller can fix."""

from __future__ import annotations

import math
import threading

import pytest

from medselect.dashboard.deps import get_workspace
from medselect.metrics import EQUIVALENCE_MARGINS
from medselect.testing.sample import build_sample_workspace

MODELS = ["run-000", "run-001", "run-002"]


def test_case_sets_and_models(client):
    (listed,) = client.get("/api/case-sets").json()
    assert {k: v for k, v in listed.items() if k != "created_at"} == {
        "id": "dv-sample-test", "name": "test", "kind": "test", "task": "knee",
        "dataset_version": "dv-sample", "n_evaluations": 3, "labelled": True}
    models = client.get("/api/models").json()
    assert [m["ref"] for m in models] == MODELS
    assert models[0]["champion"] == ["global"]
    assert models[1]["summary"]["architecture"] == "segresnet"


def test_leaderboard_shape_and_defaults(client):
    board = client.get("/api/leaderboard").json()
    assert (board["metric"], board["label"], board["aggregate"], board["direction"]) == (
        "dice", "mean", "mean", "higher")
    assert [r["model"] for r in board["rows"]] == MODELS
    assert [r["rank"] for r in board["rows"]] == [1, 2, 3]
    top = board["rows"][0]
    assert top["ci_low"] <= top["aggregate"] <= top["ci_high"]
    assert top["chosen"] and top["in_best_group"] and top["p_vs_best"] is None
    assert top["standing"] == "best" and board["rows"][2]["standing"] == "worse"
    # two patients have two cases each: every interval and test resamples the 10 patients
    assert (board["n_cases"], board["n_patients"], board["patients_assumed"]) == (12, 10, False)
    assert all((r["n_cases"], r["n_patients"]) == (12, 10) for r in board["rows"])
    assert board["best_group"] == [r["model"] for r in board["rows"] if r["in_best_group"]]
    assert (board["margin"], board["margin_source"], board["rules"]) == (
        EQUIVALENCE_MARGINS["dice"], "default", "default")
    assert board["weighting"].startswith("each case counts once")
    assert board["tie_break"] == [] and board["excluded"] == {}
    assert top["info"]["champion"] == ["global"]
    assert board["best"] == "run-000"
    assert board["sites"] == ["north", "south"]
    assert [a["name"] for a in board["aggregates"]] == ["mean", "median", "trimmed10", "p10"]
    assert [m["name"] for m in board["metrics"]] == ["dice", "hd95"]
    assert board["other_metrics"] == ["hd95"]
    assert board["rows"][2]["n_imputed"] == 1  # run-002 has no prediction for case-0011
    assert board["failed"][0]["id"] == "run-003"
    assert "out of memory" in board["failed"][0]["error"]
    assert board["rows"][0]["acceptance"] == {"accepted": 0, "reviewed": 0, "rate": None}


def test_leaderboard_by_hd95_orders_lowest_first(client):
    board = client.get("/api/leaderboard", params={"metric": "hd95"}).json()
    values = [r["aggregate"] for r in board["rows"]]
    assert board["direction"] == "lower"
    assert values == sorted(values)
    # run-002's missing case counts as the worst HD95 of all, more than run-001's stray blobs
    assert [r["model"] for r in board["rows"]] == MODELS


def test_leaderboard_aggregate_label_and_site(client):
    whole = client.get("/api/leaderboard", params={"aggregate": "p10"}).json()
    south = client.get("/api/leaderboard", params={"aggregate": "p10", "site": "south",
                                                   "label": "femur"}).json()
    assert whole["aggregate"] == "p10"
    assert (south["site"], south["label"]) == ("south", "femur")
    assert (south["rows"][0]["n_cases"], south["n_patients"]) == (6, 5)
    assert "only 5 patients" in south["ci_note"] and not south["ci_reliable"]
    mean = client.get("/api/leaderboard").json()
    assert whole["rows"][0]["aggregate"] < mean["rows"][0]["aggregate"]
    assert set(whole["rows"][0]["others"]) == {"hd95"}


def test_significance_matrix(client):
    sig = client.get("/api/leaderboard/significance").json()
    assert sig["models"] == MODELS
    assert sig["adjusted"][0][0] is None and 0 <= sig["adjusted"][0][1] <= 1
    assert sig["better"][0][2] is True and sig["better"][2][0] is False


@pytest.mark.parametrize(("params", "status", "text"), [
    ({"metric": "dcie"}, 404, "metric 'dcie' was not evaluated"),
    ({"label": "patella"}, 404, "labels: mean, femur, tibia"),
    ({"site": "west"}, 404, "sites: north, south"),
    ({"aggregate": "mode"}, 400, "unknown aggregate 'mode'"),
    ({"case_set": "nope"}, 404, "case set 'nope'"),
])
def test_leaderboard_errors_name_what_to_fix(client, params, status, text):
    response = client.get("/api/leaderboard", params=params)
    assert response.status_code == status
    assert text in response.json()["detail"]


def test_model_api(client):
    page = client.get("/api/models/run-001").json()
    assert page["info"]["config"]["architecture"] == "segresnet"
    assert page["augmentation"]["preset"] == "strong"
    steps = page["augmentation"]["steps"]  # from run.details["augmentation_preset"]
    assert [s["transform"] for s in steps] == ["RandFlipd", "RandAffined",
                                               "RandScaleIntensityd", "RandGaussianNoised"]
    assert steps[0]["prob"] == 0.5 and steps[0]["params"] == {"spatial_axis": 0}
    assert [c["name"] for c in page["curves"]] == ["train_loss", "val_dice", "val_loss"]
    assert page["curves"][0]["epochs"] == [0, 1, 2]
    boxes = {(d["metric"], d["site"]): d for d in page["distributions"]}
    assert boxes["dice", None]["n"] == 12 and boxes["dice", "north"]["n"] == 6
    assert boxes["hd95", "south"]["q1"] <= boxes["hd95", "south"]["median"]
    assert page["gallery"]["total"] == 12


def test_gallery_sorted_worst_first_by_hd95_and_paged(client):
    first = client.get("/api/models/run-002/cases",
                       params={"sort": "hd95", "page_size": 5}).json()
    second = client.get("/api/models/run-002/cases",
                        params={"sort": "hd95", "page_size": 5, "page": 2}).json()
    assert first["descending"] is True and first["total"] == 12
    rows = first["rows"] + second["rows"]
    assert rows[0]["case_id"] == "case-0011" and rows[0]["status"] == "missing"
    values = [r["values"]["hd95"] for r in rows[1:]]
    assert values == sorted(values, reverse=True)
    assert len(first["rows"]) == 5 and first["rows"][1]["thumbnail_uri"].endswith("_thumb.png")
    best_first = client.get("/api/models/run-002/cases",
                            params={"sort": "dice", "descending": True}).json()
    dice = [r["values"]["dice"] for r in best_first["rows"]]
    assert dice[-1] is None and dice[:-1] == sorted(dice[:-1], reverse=True)


def test_gallery_site_filter_and_label(client):
    page = client.get("/api/models/run-000/cases",
                      params={"site": "south", "label": "tibia"}).json()
    assert {r["site"] for r in page["rows"]} == {"south"} and page["total"] == 6
    assert page["label"] == "tibia"
    assert client.get("/api/models/run-000/cases", params={"sort": "iou"}).status_code == 404


def test_case_api_orders_models_by_metric(client):
    by_dice = client.get("/api/cases/case-0011").json()
    by_hd95 = client.get("/api/cases/case-0011", params={"metric": "hd95"}).json()
    assert [e["model"] for e in by_dice["entries"]] == MODELS
    assert by_dice["entries"][2]["status"] == "missing"  # no value: last
    hd95 = [e["values"]["hd95"] for e in by_hd95["entries"][:2]]
    assert hd95 == sorted(hd95)
    assert by_dice["site"] == "south"
    assert client.get("/api/cases/case-9999").status_code == 404


def test_compare_orders_by_largest_difference(client):
    data = client.get("/api/compare", params={"models": ["run-000", "run-002"],
                                              "limit": 0}).json()
    assert data["models"] == ["run-000", "run-002"] and data["total"] == 12
    rows = data["rows"]
    assert rows[0]["case_id"] == "case-0011" and rows[0]["values"][1] is None
    spreads = [r["spread"] for r in rows[1:]]
    assert spreads == sorted(spreads, reverse=True)
    first = rows[1]
    assert math.isclose(first["deltas"][1], first["values"][1] - first["values"][0])
    assert first["deltas"][0] == 0
    default = client.get("/api/compare").json()
    assert default["models"] == ["run-000", "run-001"]


@pytest.mark.parametrize("models", [["run-000"], ["run-000"] * 2, [*MODELS, "run-003", "x"]])
def test_compare_needs_two_to_four_models(client, models):
    response = client.get("/api/compare", params={"models": models})
    assert response.status_code == 400
    assert "choose 2 to 4 different models" in response.json()["detail"]


def test_openapi_lists_the_api(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/leaderboard", "/api/leaderboard/significance", "/api/models/{ref}",
            "/api/models/{ref}/cases", "/api/cases/{case_id}", "/api/compare",
            "/api/reviews", "/api/case-sets"} <= set(paths)
    assert not any(p.startswith("/artifacts") for p in paths)


def test_workspace_dependency_can_be_swapped(client, sample_ws, tmp_path):
    other = build_sample_workspace(tmp_path / "other", n_models=2, n_cases=4)
    client.app.dependency_overrides[get_workspace] = lambda: other
    try:
        board = client.get("/api/leaderboard").json()
    finally:
        client.app.dependency_overrides.clear()
        other.dispose()
    assert [r["model"] for r in board["rows"]] == ["run-000", "run-001"]


def test_startup_warms_the_default_leaderboard(fresh_ws, make_client):
    client = make_client(fresh_ws)
    dash = client.app.state.dashboard
    assert len(dash.cache) == 0
    with client:  # runs the lifespan: the warm-up thread starts
        for thread in threading.enumerate():
            if thread.name == "medselect-warm-up":
                thread.join(timeout=30)
        assert len(dash.cache) > 0
        assert client.get("/api/leaderboard").status_code == 200
