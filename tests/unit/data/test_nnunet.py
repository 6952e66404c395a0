"""read_nnunet on tiny nnU-Net v2 raw folders (file contents are not read here)."""

from __future__ import annotations

import json
import shutil

import pytest

from medselect.data.nnunet import nnunet_file_ending, read_nnunet
from medselect.errors import DatasetInvalid

META = {"channel_names": {"0": "T2", "1": "ADC"}, "labels": {"background": 0, "lesion": 1},
        "numTraining": 2, "file_ending": ".nii.gz", "name": "Knee"}


def make_dataset(root, meta=META, train=("knee_001", "knee_002"), test=(), channels=2):
    root.mkdir(exist_ok=True)
    (root / "dataset.json").write_text(json.dumps(meta))
    for folder, cases in (("imagesTr", train), ("imagesTs", test)):
        (root / folder).mkdir(exist_ok=True)
        for case in cases:
            for c in range(channels):
                (root / folder / f"{case}_{c:04d}.nii.gz").write_bytes(b"")
    (root / "labelsTr").mkdir(exist_ok=True)
    for case in train:
        (root / "labelsTr" / f"{case}.nii.gz").write_bytes(b"")
    return root


def problems_of(root, **kwargs):
    with pytest.raises(DatasetInvalid) as err:
        read_nnunet(root, **kwargs)
    assert err.value.source == str(root)
    return err.value.problems


def test_reads_cases_channels_labels_and_test_set(tmp_path):
    root = make_dataset(tmp_path / "Dataset001_Knee", test=("knee_101",))
    (root / "imagesTr" / ".DS_Store").write_bytes(b"")
    records, info = read_nnunet(root)
    assert info == {"name": "Knee", "classes": ["background", "lesion"],
                    "labels": {"background": 0, "lesion": 1}, "channels": ["T2", "ADC"],
                    "file_ending": ".nii.gz"}
    assert [r.case_id for r in records] == ["knee_001", "knee_002", "knee_101"]
    first, test = records[0], records[2]
    assert first.images == (str(root / "imagesTr/knee_001_0000.nii.gz"),
                            str(root / "imagesTr/knee_001_0001.nii.gz"))
    assert first.label == str(root / "labelsTr/knee_001.nii.gz")
    assert (first.site, first.patient_id, first.split) == ("default", "knee_001", None)
    assert (test.label, test.split) == (None, "test")


def test_labels_are_ordered_by_value_and_labels_ts_is_used(tmp_path):
    meta = {k: v for k, v in META.items() if k != "name"}
    meta["labels"] = {"meniscus": 2, "background": 0, "cartilage": 1}
    root = make_dataset(tmp_path / "d", meta=meta, test=("t1",))
    (root / "labelsTs").mkdir()
    (root / "labelsTs" / "t1.nii.gz").write_bytes(b"")
    records, info = read_nnunet(root)
    assert info["classes"] == ["background", "cartilage", "meniscus"]
    assert list(info["labels"].values()) == [0, 1, 2]
    assert info["name"] == "d"  # no "name" in dataset.json: the folder's
    assert records[-1].label == str(root / "labelsTs/t1.nii.gz")


def test_site_of(tmp_path):
    root = make_dataset(tmp_path / "d")
    sites = {"knee_001": "site-a", "knee_002": "site-b"}
    records, _ = read_nnunet(root, site_of=sites.__getitem__)
    assert [r.site for r in records] == ["site-a", "site-b"]
    [problem] = problems_of(root, site_of={"knee_001": "site-a"}.__getitem__)
    assert problem.case_id == "knee_002" and "no site" in problem.message


def test_missing_dataset_json(tmp_path):
    [problem] = problems_of(tmp_path)
    assert "dataset.json is missing" in problem.message
    assert problem.file == str(tmp_path / "dataset.json")


def test_malformed_dataset_json(tmp_path):
    (tmp_path / "dataset.json").write_text('{"labels": {"background": 0,}')
    [problem] = problems_of(tmp_path)
    assert "not valid JSON" in problem.message and problem.file.endswith("dataset.json")


def test_missing_keys_and_v1_layout(tmp_path):
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": {"background": 0}}))
    assert [p.message for p in problems_of(tmp_path)] == [
        "key 'channel_names' is missing", "key 'numTraining' is missing",
        "key 'file_ending' is missing"]
    (tmp_path / "dataset.json").write_text(json.dumps({"modality": {"0": "MRI"}, "labels": {}}))
    assert "nnU-Net v1" in problems_of(tmp_path)[0].message


@pytest.mark.parametrize(("labels", "expected"), [
    ({"background": 0, "lesion": 2}, "must be 0..n-1"),
    ({"background": 0, "whole": [1, 2]}, "region-based labels"),
])
def test_labels_dict_must_be_consecutive_integers(tmp_path, labels, expected):
    root = make_dataset(tmp_path / "d", meta=dict(META, labels=labels))
    [problem] = problems_of(root)
    assert expected in problem.message


def test_missing_channel_label_and_count(tmp_path):
    root = make_dataset(tmp_path / "d", train=("a", "b", "c"))
    (root / "imagesTr" / "a_0001.nii.gz").unlink()
    (root / "labelsTr" / "b.nii.gz").unlink()
    (root / "labelsTr" / "orphan.nii.gz").write_bytes(b"")
    (root / "imagesTr" / "c_0007.nii.gz").write_bytes(b"")
    problems = problems_of(root)
    text = [str(p) for p in problems]
    assert problems[0].case_id == "c" and "channel 0000..0001" in text[0]
    assert problems[1].case_id == "a" and "channel 0001 is missing; expected a_0001.nii.gz" \
        in text[1]
    assert problems[2].case_id == "b" and "expected labelsTr/b.nii.gz" in text[2]
    assert problems[3].case_id == "orphan" and "no images" in text[3]
    assert "numTraining is 2 but imagesTr holds 3 cases" in text[4]
    assert len(problems) == 5


def test_new_cases_need_only_imagests_and_no_numtraining(tmp_path):
    meta = {k: v for k, v in META.items() if k != "numTraining"}
    root = make_dataset(tmp_path / "d", meta=meta, train=(), test=("t1", "t2"))
    shutil.rmtree(root / "imagesTr")
    (root / "labelsTs").mkdir()
    (root / "labelsTs" / "t1.nii.gz").write_bytes(b"")
    records, _ = read_nnunet(root, training_required=False)
    assert [(r.case_id, r.split, r.label) for r in records] == [
        ("t1", "test", str(root / "labelsTs/t1.nii.gz")), ("t2", "test", None)]
    assert [p.message for p in problems_of(root)] == ["key 'numTraining' is missing"]
    shutil.rmtree(root / "imagesTs")
    [problem] = problems_of(root, training_required=False)
    assert "neither imagesTr/ nor imagesTs/" in problem.message


def test_the_file_ending_of_a_usable_dataset_json(tmp_path):
    root = make_dataset(tmp_path / "d", meta=dict(META, file_ending=".png"))
    assert nnunet_file_ending(root) == ".png"
    (root / "dataset.json").write_text(json.dumps({"training": [], "modality": {"0": "CT"}}))
    assert nnunet_file_ending(root) is None  # another tool's dataset.json
    assert nnunet_file_ending(tmp_path) is None  # none at all
