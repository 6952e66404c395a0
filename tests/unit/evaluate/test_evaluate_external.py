"""Bring your own predictions: a folder of masks evaluated and ranked beside trained runs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medselect.config import EvaluationSpec, TaskSpec
from medselect.data.image import Image
from medselect.data.importer import import_dataset
from medselect.data.readers import read_image
from medselect.data.sources import read_source
from medselect.data.writers import write_image
from medselect.errors import ConfigError, DataError
from medselect.evaluate import (
    ExternalPredictions,
    evaluate_external,
    evaluate_external_on_sets,
)
from medselect.metrics import MEAN_LABEL
from medselect.store import (
    Workspace,
    case_metric_table,
    case_set_members,
    get_external_model,
    get_predictions,
)

CLASSES = ["background", "femur", "tibia", "patella", "femoral_cartilage", "tibial_cartilage"]
TASK = TaskSpec(name="knee", classes=CLASSES)
SPEC = EvaluationSpec(metrics=["dice", "hd95"])


@pytest.fixture
def ws(tmp_path, tiny_phantom):
    workspace = Workspace.create(tmp_path / "ws")
    import_dataset(workspace, TASK, read_source(tiny_phantom / "manifest.csv").records)
    yield workspace
    workspace.dispose()


@pytest.fixture
def test_cases(ws):
    with ws.connect() as conn:
        version = conn.exec_driver_sql("select id from dataset_version").scalar_one()
        return case_set_members(conn, f"{version}-test")


def copy_labels(ws, cases, folder, suffix=".nii.gz"):
    """Perfect predictions: each test case's own label map, written as ``<case_id><suffix>``."""
    folder.mkdir(exist_ok=True)
    for case in cases:
        label = read_image(ws.path(case["label_uri"]), kind="label")
        write_image(label, folder / f"{case['case_id']}{suffix}")
    return folder


def test_missing_and_misshapen_predictions_are_recorded_and_others_scored(ws, test_cases,
                                                                          tmp_path):
    folder = copy_labels(ws, test_cases, tmp_path / "nnunet", suffix=".png")
    missing, misshapen, *fine = (c["case_id"] for c in test_cases)
    (folder / f"{missing}.png").unlink()
    write_image(Image(np.zeros((16, 8), np.uint8), spacing=(1.0, 1.0)), folder / f"{misshapen}.png")
    (folder / "plans.json").write_text("{}")  # nnU-Net's extra files are ignored
    report = evaluate_external(ws, folder, "nnunet", "test", spec=SPEC, overlays=False)
    outcome = report.outcomes[0]
    assert outcome.model_ref == "external:nnunet" and outcome.status == "finished"
    assert (outcome.n_ok, outcome.n_missing, outcome.n_errors) == (len(fine), 1, 1)
    assert outcome.key_value == pytest.approx(1.0)  # perfect on the scored cases
    with ws.connect() as conn:
        rows = {r["case_id"]: r for r in get_predictions(conn, outcome.evaluation_id)}
        table = case_metric_table(conn, case_set=report.case_set, labels=[MEAN_LABEL])
        model = get_external_model(conn, "external:nnunet")
    assert rows[missing]["status"] == "missing" and f"case {missing!r}" in rows[missing]["error"]
    assert rows[misshapen]["status"] == "error"
    assert "shape (16, 8)" in rows[misshapen]["error"] and "(32, 32)" in rows[misshapen]["error"]
    by_case = table.set_index(["case_id", "metric"])["value"]
    assert math.isnan(by_case[(missing, "dice")]) and math.isnan(by_case[(misshapen, "hd95")])
    assert by_case[(fine[0], "dice")] == 1.0 and by_case[(fine[0], "hd95")] == 0.0
    assert model["task"] == "knee" and model["source_uri"].startswith("file://")


def test_new_prediction_files_are_a_new_evaluation(ws, test_cases, tmp_path):
    folder = copy_labels(ws, test_cases, tmp_path / "preds")
    first = evaluate_external(ws, folder, "mine", spec=SPEC, overlays=False).outcomes[0]
    same = evaluate_external(ws, folder, "mine", spec=SPEC, overlays=False).outcomes[0]
    case_id = test_cases[0]["case_id"]
    write_image(Image(np.zeros((32, 32), np.uint8), spacing=(1.0, 1.0)),
                folder / f"{case_id}.nii.gz")
    changed = evaluate_external(ws, folder, "mine", spec=SPEC, overlays=True).outcomes[0]
    assert same.status == "reused" and same.evaluation_id == first.evaluation_id
    assert changed.status == "finished" and changed.evaluation_id != first.evaluation_id
    assert changed.key_value < first.key_value
    with ws.connect() as conn:
        rows = get_predictions(conn, changed.evaluation_id)
        table = case_metric_table(conn, case_set=f"{test_cases[0]['dataset_version']}-test",
                                  metrics=["dice"], labels=[MEAN_LABEL])
    assert all(ws.path(r["overlay_uri"]).is_file() for r in rows)  # empty prediction drawn too
    assert table.loc[table["case_id"] == case_id, "value"].item() == 0.0  # newest wins


def test_one_folder_is_evaluated_on_every_listed_set(ws, test_cases, tmp_path):
    folder = copy_labels(ws, test_cases, tmp_path / "preds")  # predictions of test cases only
    result = evaluate_external_on_sets(ws, folder, "mine", spec=SPEC, overlays=False)
    val, test = result.reports
    assert result.names == ["val", "test"] and (val.case_set_kind, test.case_set_kind) == (
        "val", "test")
    assert val.outcomes[0].n_missing == val.n_cases > 0  # no prediction: missing, ranked worst
    assert test.outcomes[0].n_ok == test.n_cases and test.outcomes[0].key_value == 1.0
    again = evaluate_external_on_sets(ws, folder, "mine", ["test"], spec=SPEC, overlays=False)
    assert [o.status for o in again.reports[0].outcomes] == ["reused"]


def test_unusable_folders_and_names_are_refused(tmp_path):
    with pytest.raises(DataError, match="is not a folder"):
        ExternalPredictions(tmp_path / "absent", "x")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no prediction files"):
        ExternalPredictions(tmp_path / "empty", "x")
    twice = tmp_path / "twice"
    twice.mkdir()
    for name in ("a.png", "a.nii.gz"):
        write_image(Image(np.zeros((4, 4), np.uint8), spacing=(1.0, 1.0)), twice / name)
    with pytest.raises(DataError, match="two predictions for case 'a'"):
        ExternalPredictions(twice, "x")
    with pytest.raises(ConfigError, match="cannot name an external model"):
        ExternalPredictions(twice, "bad name/")


def test_3d_cases_get_nifti_predictions_and_a_two_slice_overlay(tmp_path):
    from PIL import Image as PILImage

    from medselect.data.phantom import synth_knee_dataset

    records = synth_knee_dataset(tmp_path / "knee3d", cases_per_site=2, size=16, seed=0,
                                 spatial_dims=3)
    task = TaskSpec(name="knee3d", classes=CLASSES, spatial_dims=3)
    with Workspace.create(tmp_path / "ws") as ws:
        version = import_dataset(ws, task, records).version_id
        with ws.connect() as conn:
            cases = case_set_members(conn, f"{version}-test")
        folder = tmp_path / "preds"
        for case in cases:  # the reference with one class dropped: slices disagree
            label = read_image(ws.path(case["label_uri"]), kind="label")
            array = np.where(label.array == 1, 0, label.array).astype(np.uint8)
            write_image(Image(array, spacing=label.spacing), folder / f"{case['case_id']}.nii.gz")
        report = evaluate_external(ws, folder, "drop-femur", task=task, spec=SPEC)
        with ws.connect() as conn:
            rows = get_predictions(conn, report.outcomes[0].evaluation_id)
            table = case_metric_table(conn, case_set=report.case_set, metrics=["dice"])
        saved = read_image(ws.path(rows[0]["prediction_uri"]), kind="label")
        overlay = PILImage.open(ws.path(rows[0]["overlay_uri"]))
        thumb = PILImage.open(ws.path(rows[0]["thumbnail_uri"]))
    assert rows[0]["prediction_uri"].endswith(".nii.gz") and saved.shape == (16, 16, 8)
    assert saved.spacing == pytest.approx((7.5, 7.5, 15.0))  # thick slices kept
    assert overlay.width > 1.5 * overlay.height  # largest reference and disagreement slices
    assert max(thumb.size) <= 160
    femur = table[table["label"] == "femur"]["value"]
    assert (femur == 0.0).all() and len(femur) == len(cases)
