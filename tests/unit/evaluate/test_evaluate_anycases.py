"""New cases from any layout, and predictions made elsewhere scored on any cases of the task.

Real NIfTI/PNG files of the tiny phantom are laid out as users hold them: an nnU-Net folder of
``imagesTs/`` + ``labelsTs/`` only, its ``imagesTs/`` pointed at directly, a plain folder of
images with a labels folder and a case-info table. Trained runs must never be scored on cases
they learnt from, while an external model may be scored on any of them.
"""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

from medselect.config import EvaluationSpec, RunConfig, TaskSpec, config_hash
from medselect.data import named_case_set
from medselect.data.caseinfo import CaseInfo
from medselect.data.image import Image
from medselect.data.importer import import_dataset, latest_training_version
from medselect.data.readers import read_image
from medselect.data.sources import read_source
from medselect.data.writers import write_image
from medselect.errors import DataError, LeakageError
from medselect.evaluate import (
    NewCases,
    evaluate_external,
    evaluate_external_on_sets,
    evaluate_runs,
    read_new_cases,
    resolve_case_set,
)
from medselect.store import (
    Workspace,
    case_metric_table,
    case_set_members,
    get_case_set,
    get_cases,
    set_run_status,
    upsert_run,
)

CLASSES = ["background", "femur", "tibia", "patella", "femoral_cartilage", "tibial_cartilage"]
TASK = TaskSpec(name="knee", classes=CLASSES)
SPEC = EvaluationSpec(metrics=["dice"])
DATASET_JSON = {"channel_names": {"0": "MR"}, "labels": {c: i for i, c in enumerate(CLASSES)},
                "file_ending": ".nii.gz", "name": "KneeNew"}


@pytest.fixture
def ws(tmp_path, tiny_phantom):
    workspace = Workspace.create(tmp_path / "ws")
    import_dataset(workspace, TASK, read_source(tiny_phantom / "manifest.csv").records)
    yield workspace
    workspace.dispose()


@pytest.fixture
def records(ws, tiny_phantom):
    """The phantom's source records by stored split: ``{"train": [...], "test": [...], ...}``."""
    with ws.connect() as conn:
        split = {c["case_id"]: c["split"]
                 for c in get_cases(conn, latest_training_version(conn, "knee")["id"])}
    by_split: dict[str, list] = {"train": [], "val": [], "test": []}
    for record in read_source(tiny_phantom / "manifest.csv").records:
        by_split[split[record.case_id]].append(record)
    return by_split


def nnunet_test_folder(root, records, *, dataset_json=True):
    """An nnU-Net folder holding only ``imagesTs/`` and ``labelsTs/`` (and dataset.json)."""
    for record in records:
        (root / "imagesTs").mkdir(parents=True, exist_ok=True)
        (root / "labelsTs").mkdir(exist_ok=True)
        shutil.copy(record.images[0], root / "imagesTs" / f"{record.case_id}_0000.nii.gz")
        shutil.copy(record.label, root / "labelsTs" / f"{record.case_id}.nii.gz")
    if dataset_json:
        (root / "dataset.json").write_text(json.dumps(DATASET_JSON))
    return root


def perfect_predictions(folder, label_files):
    """Each case's own label map as its prediction, ``<case_id>.png``."""
    folder.mkdir(exist_ok=True)
    for case_id, label in label_files.items():
        write_image(read_image(label, kind="label"), folder / f"{case_id}.png")
    return folder


def every_case(records):
    return [r for split in records.values() for r in split]


def perfect_for(tmp_path, records):
    """Perfect predictions for every case of the phantom."""
    return perfect_predictions(tmp_path / "preds",
                               {r.case_id: r.label for r in every_case(records)})


def finished_run(ws) -> str:
    """A finished run row of the task; refusals come before its checkpoint is read."""
    config = RunConfig(architecture="unet", input_size=(32, 32), depth=2, features=4)
    with ws.begin() as conn:
        version = latest_training_version(conn, "knee")["id"]
        upsert_run(conn, {"id": "run-1", "task": "knee", "dataset_version": version,
                          "config": config.model_dump(mode="json"),
                          "config_hash": config_hash(config)})
        set_run_status(conn, "run-1", "running")
        set_run_status(conn, "run-1", "finished", checkpoint_uri="runs/run-1/best.pt",
                       best_metric=0.5)
    return "run-1"


def members(ws, case_set_id):
    with ws.connect() as conn:
        return case_set_members(conn, case_set_id)


def test_an_nnunet_folder_of_imagests_and_labelsts_is_scored_with_its_labels(ws, tmp_path,
                                                                            records):
    folder = nnunet_test_folder(tmp_path / "Dataset002_KneeNew", records["test"])
    preds = perfect_predictions(tmp_path / "preds", {r.case_id: r.label for r in records["test"]})
    report = evaluate_external(ws, preds, "perfect", folder, spec=SPEC, overlays=False)
    outcome = report.outcomes[0]
    assert report.case_set_kind == "new" and report.n_cases == len(records["test"])
    assert (outcome.n_ok, outcome.key_value) == (report.n_cases, pytest.approx(1.0))
    stored = members(ws, report.case_set)
    assert all(m["label_uri"] for m in stored)
    with ws.connect() as conn:
        dice = case_metric_table(conn, case_set=report.case_set, metrics=["dice"])
    assert set(dice["case_id"]) == {r.case_id for r in records["test"]}
    assert resolve_case_set(ws, TASK, folder)["id"] == report.case_set  # runs may use it


def test_pointing_at_imagests_picks_up_labelsts_read_by_the_datasets_file_ending(
        ws, tmp_path, records):
    folder = nnunet_test_folder(tmp_path / "Dataset002_KneeNew", records["test"])
    write_image(Image(np.zeros((8, 8), np.uint8), spacing=(1.0, 1.0)),
                folder / "imagesTs" / "preview.png")  # not the dataset's .nii.gz: ignored
    new = resolve_case_set(ws, TASK, folder / "imagesTs")
    stored = members(ws, new["id"])
    assert [m["case_id"] for m in stored] == sorted(r.case_id for r in records["test"])
    assert all(m["label_uri"] for m in stored)
    bare = nnunet_test_folder(tmp_path / "bare", records["test"][:2], dataset_json=False)
    assert [r.label for r in read_new_cases(bare / "imagesTs")] == [
        str(bare / "labelsTs" / f"{r.case_id}.nii.gz") for r in records["test"][:2]]


def test_a_plain_folder_takes_patients_sites_and_a_labels_folder(ws, tmp_path, records,
                                                                 tiny_phantom):
    scans, masks = tmp_path / "scans", tmp_path / "masks"
    scans.mkdir(), masks.mkdir()
    for record in records["test"]:
        shutil.copy(record.images[0], scans / f"{record.case_id}.nii.gz")
        shutil.copy(record.label, masks / f"{record.case_id}.nii.gz")
    info = CaseInfo.of(patients=r"(?P<patient>.+)-v\d+", site="lyon")
    new = resolve_case_set(ws, TASK, NewCases(scans, labels=masks, info=info))
    stored = members(ws, new["id"])
    assert {(m["case_id"], m["patient_id"], m["site"]) for m in stored} == {
        (r.case_id, r.patient_id, "lyon") for r in records["test"]}
    assert all(m["label_uri"] for m in stored)
    shutil.copy(records["test"][0].label, masks / "ghost_0000.nii.gz")
    with pytest.raises(DataError, match="label files ghost_0000 name no case"):
        read_new_cases(scans, labels=masks)
    with pytest.raises(DataError, match="give a labels folder only with a plain folder"):
        read_new_cases(tiny_phantom / "manifest.csv", labels=masks)


def test_external_predictions_are_scored_on_train_all_and_val(ws, tmp_path, records):
    every = every_case(records)
    preds = perfect_for(tmp_path, records)
    result = evaluate_external_on_sets(ws, preds, "perfect", ["train", "all", "val"],
                                       spec=SPEC, overlays=False)
    train, everything, val = result.reports
    assert (train.n_cases, everything.n_cases, val.n_cases) == (
        len(records["train"]), len(every), len(records["val"]))
    assert all(r.outcomes[0].n_ok == r.n_cases and r.outcomes[0].key_value == 1.0
               for r in result.reports)
    with ws.connect() as conn:
        version = latest_training_version(conn, "knee")["id"]
        stored = get_case_set(conn, f"{version}-train")
        assert named_case_set(conn, "knee", "all")["id"] == everything.case_set
    assert train.case_set == stored["id"] and (stored["name"], stored["kind"]) == (
        "train", "custom")
    again = evaluate_external_on_sets(ws, preds, "perfect", ["train", "all"], spec=SPEC,
                                      overlays=False)
    assert [r.case_set for r in again.reports] == [train.case_set, everything.case_set]
    assert [r.outcomes[0].status for r in again.reports] == ["reused", "reused"]


def test_external_predictions_may_be_scored_on_training_cases_given_as_a_path(ws, tmp_path,
                                                                             records):
    folder = nnunet_test_folder(tmp_path / "seen", records["train"][:3])
    preds = perfect_for(tmp_path, records)
    report = evaluate_external(ws, preds, "perfect", folder, spec=SPEC, overlays=False)
    assert report.outcomes[0].n_ok == 3 and report.outcomes[0].key_value == 1.0
    with pytest.raises(LeakageError, match="in the training data of task 'knee'"):
        resolve_case_set(ws, TASK, folder)  # the same path, for the task's runs


def test_runs_are_never_scored_on_cases_they_trained_on(ws, tmp_path, records):
    run = finished_run(ws)
    for name in ("train", "all"):
        with pytest.raises(LeakageError, match=re.escape(
                f"case set '{name}' holds the cases task 'knee''s runs were trained on")):
            evaluate_runs(ws, runs=[run], case_set=name)
    folder = nnunet_test_folder(tmp_path / "seen", records["train"][:2])
    preds = perfect_for(tmp_path, records)
    seen = evaluate_external(ws, preds, "perfect", folder, spec=SPEC, overlays=False).case_set
    train = evaluate_external(ws, preds, "perfect", "train", spec=SPEC, overlays=False).case_set
    with pytest.raises(LeakageError, match=re.escape("leave them out (predictions made elsewhere")):
        evaluate_runs(ws, runs=[run], case_set=folder)
    with pytest.raises(LeakageError, match="identical to training case "
                                           f"'{records['train'][0].case_id}'"):
        evaluate_runs(ws, runs=[run], case_set=seen)  # stored for the external model, by id
    with pytest.raises(LeakageError, match="runs are never evaluated on it"):
        evaluate_runs(ws, runs=[run], case_set=train)


def test_the_cli_reads_new_cases_with_case_info_and_scores_external_predictions_anywhere(
        run_cli, ws, tmp_path, records):
    scans, masks = tmp_path / "scans", tmp_path / "masks"
    scans.mkdir(), masks.mkdir()
    for record in records["test"]:
        shutil.copy(record.images[0], scans / f"{record.case_id}_0000.nii.gz")
        shutil.copy(record.label, masks / f"{record.case_id}.nii.gz")
    table = tmp_path / "info.csv"
    table.write_text("case_id,patient_id,site,scanner\n" + "".join(
        f"{r.case_id},pt-{i // 2},oslo,GE\n" for i, r in enumerate(records["test"])))
    preds = perfect_for(tmp_path, records)
    new = run_cli("evaluate", "-w", ws.root, "--predictions", preds, "--cases", scans,
                  "--labels", masks, "--case-info", table, "--json")
    assert new.code == 0, new.stderr
    [report] = json.loads(new.stdout)["reports"]
    assert report["case_set_kind"] == "new" and report["models"][0]["key_value"] == 1.0
    stored = members(ws, report["case_set"])
    assert {(m["patient_id"], m["site"], m["attributes"]["scanner"]) for m in stored} == {
        (f"pt-{i // 2}", "oslo", "GE") for i in range(len(records["test"]))}
    on_all = run_cli("evaluate", "-w", ws.root, "--predictions", preds, "--cases", "all",
                     "--json")
    assert on_all.code == 0, on_all.stderr
    assert json.loads(on_all.stdout)["reports"][0]["n_cases"] == len(every_case(records))
    finished_run(ws)
    refused = run_cli("evaluate", "-w", ws.root, "--cases", "train")
    assert refused.code == 1 and "runs are never evaluated on it" in refused.stderr
    assert "with --predictions" in refused.stderr and "Traceback" not in refused.stderr
    orphan = run_cli("evaluate", "-w", ws.root, "--site", "oslo")
    assert orphan.code == 1
    assert "--site: these describe new cases; give --cases PATH" in orphan.stderr
