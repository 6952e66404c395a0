"""Which cases an evaluation runs on: test, reference, a stored id, or new cases from a path."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from medselect.config import TaskSpec
from medselect.data import named_case_set
from medselect.data.caseinfo import CaseInfo
from medselect.data.importer import import_dataset, latest_training_version
from medselect.data.manifest import write_manifest
from medselect.data.readers import read_image
from medselect.data.sources import read_source
from medselect.errors import DataError, LeakageError, NotFound
from medselect.evaluate import NewCases, folder_records, resolve_case_set
from medselect.store import Workspace, case_set_members, get_cases
from medselect.testing.dicom import write_dicom_series

CLASSES = ["background", "femur", "tibia", "patella", "femoral_cartilage", "tibial_cartilage"]
TASK = TaskSpec(name="knee", classes=CLASSES)


@pytest.fixture
def ws(tmp_path, tiny_phantom):
    workspace = Workspace.create(tmp_path / "ws")
    import_dataset(workspace, TASK, read_source(tiny_phantom / "manifest.csv").records)
    yield workspace
    workspace.dispose()


@pytest.fixture
def test_records(ws, tiny_phantom):
    """Source records of the stored test split (unseen by training, so usable as new cases)."""
    with ws.connect() as conn:
        version = latest_training_version(conn, "knee")["id"]
        test_ids = {c["case_id"] for c in get_cases(conn, version, split="test")}
    return [r for r in read_source(tiny_phantom / "manifest.csv").records
            if r.case_id in test_ids]


def test_names_resolve_to_the_latest_training_version(ws):
    val = resolve_case_set(ws, TASK, "val")
    test = resolve_case_set(ws, TASK, "test")
    reference = resolve_case_set(ws, TASK, "reference")
    with ws.connect() as conn:
        version = latest_training_version(conn, "knee")["id"]
        assert named_case_set(conn, "knee", "val") == val  # the one resolution of names
    assert (val["id"], val["kind"]) == (f"{version}-val", "val")
    assert (test["id"], test["kind"]) == (f"{version}-test", "test")
    assert (reference["id"], reference["kind"]) == (f"{version}-reference", "reference")
    assert resolve_case_set(ws, TASK, test["id"]) == test  # a stored id
    with pytest.raises(NotFound, match="'nowhere': no such path, and task 'knee' has no case "
                                       "set 'nowhere'; it has val, test, reference; case sets"):
        resolve_case_set(ws, TASK, "nowhere")
    for name in ("val", "test", "reference"):
        with pytest.raises(NotFound, match="no dataset version"):
            resolve_case_set(ws, TaskSpec(name="other", classes=CLASSES), name)


def test_a_labelled_manifest_becomes_a_new_case_set_without_touching_training(ws, tmp_path,
                                                                           test_records):
    with ws.connect() as conn:
        before = latest_training_version(conn, "knee")
    manifest = write_manifest(test_records, tmp_path / "new" / "cases.csv")
    new = resolve_case_set(ws, TASK, manifest)
    again = resolve_case_set(ws, TASK, manifest)
    with ws.connect() as conn:
        members = case_set_members(conn, new["id"])
        after = latest_training_version(conn, "knee")
    assert new["kind"] == "new" and new["name"] == "cases" and again["id"] == new["id"]
    assert [m["case_id"] for m in members] == sorted(r.case_id for r in test_records)
    assert all(m["label_uri"] and m["split"] == "test" for m in members)
    assert all(m["image_uris"][0].startswith("data/") for m in members)  # copied by content
    assert after["id"] == before["id"]  # sweeps still train on the same version


def test_a_folder_of_images_is_unlabelled_cases_with_channels_grouped(ws, tmp_path,
                                                                     test_records):
    folder = tmp_path / "images"
    folder.mkdir()
    image = test_records[0].images[0]
    for name in ("alpha.nii.gz", "beta_0000.nii.gz", "beta_0001.nii.gz"):
        shutil.copy(image, folder / name)
    (folder / "notes.txt").write_text("ignored")
    records = folder_records(folder)
    assert [(r.case_id, len(r.images), r.label) for r in records] == [
        ("alpha", 1, None), ("beta", 2, None)]
    assert records[1].images[1].endswith("beta_0001.nii.gz")
    new = resolve_case_set(ws, TASK, NewCases(folder, info=CaseInfo.of(site="clinic-x")))
    with ws.connect() as conn:
        members = case_set_members(conn, new["id"])
    assert [(m["case_id"], m["site"], m["label_uri"]) for m in members] == [
        ("alpha", "clinic-x", None), ("beta", "clinic-x", None)]


def test_bad_folders_are_refused_with_the_reason(ws, tmp_path, tiny_phantom):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no image files"):
        resolve_case_set(ws, TASK, empty)
    gap = tmp_path / "gap"
    gap.mkdir()
    shutil.copy(next((tiny_phantom / "images").iterdir()), gap / "c_0001.nii.gz")
    with pytest.raises(DataError, match=r"case 'c' has channels \[1\]"):
        folder_records(gap)


def test_training_images_are_not_new_cases(ws, tmp_path):
    with ws.connect() as conn:
        version = latest_training_version(conn, "knee")["id"]
        train = get_cases(conn, version, split="train")[0]
    folder = tmp_path / "leak"
    folder.mkdir()
    shutil.copy(ws.path(train["image_uris"][0]), folder / "looks-new.nii.gz")
    with pytest.raises(LeakageError, match=f"identical to training case '{train['case_id']}'"):
        resolve_case_set(ws, TASK, folder)


def test_a_folder_of_dicom_series_folders_is_one_case_per_series(tmp_path):
    root = tmp_path / "pacs"
    for name in ("knee-b", "knee-a"):
        write_dicom_series(root / name, np.ones((4, 3, 2)))
    (root / ".hidden").mkdir()
    records = folder_records(root)
    assert [(r.case_id, r.images) for r in records] == [
        ("knee-a", (str(root / "knee-a"),)), ("knee-b", (str(root / "knee-b"),))]
    assert read_image(records[0].images[0]).shape == (4, 3, 2)
