"""Leakage guard: a patient or an image on both sides of a split."""

import dataclasses

import pytest

from medselect.data.case import CaseRecord
from medselect.data.leakage import (
    check_leakage,
    check_split_leakage,
    require_no_leakage,
    require_no_split_leakage,
)
from medselect.data.phantom import synth_knee_dataset
from medselect.data.phantom_sites import DEFAULT_SITES
from medselect.data.splits import assign_splits
from medselect.errors import DataError, LeakageError


@pytest.fixture
def cases(tmp_path) -> dict[str, CaseRecord]:
    """A: p1, B: p2, C: p3 with A's bytes under another name, D: p2 again, E: p4."""
    content = {"a": b"scan one", "b": b"scan two", "c": b"scan one", "d": b"scan four",
               "e": b"scan five"}
    for name, data in content.items():
        (tmp_path / f"{name}.nii.gz").write_bytes(data)
    patients = {"a": "p1", "b": "p2", "c": "p3", "d": "p2", "e": "p4"}
    return {name.upper(): CaseRecord(name.upper(), (str(tmp_path / f"{name}.nii.gz"),),
                                     patient_id=patient) for name, patient in patients.items()}


def test_clean_split_has_no_problems(cases):
    assert check_leakage([cases["A"], cases["B"]], [cases["E"]]) == []
    require_no_leakage([cases["A"], cases["B"]], [cases["E"]])


def test_shared_patient_is_caught_and_named(cases):
    problems = check_leakage([cases["A"], cases["B"]], [cases["D"]])
    assert len(problems) == 1
    assert problems[0].case_id == "D"
    assert "patient 'p2'" in problems[0].message
    assert "cases B" in problems[0].message and "cases D" in problems[0].message


def test_identical_content_under_other_ids_is_caught_with_both_files(cases):
    problems = check_leakage([cases["A"], cases["B"]], [cases["C"]])
    assert len(problems) == 1
    assert problems[0].case_id == "C" and problems[0].file == cases["C"].images[0]
    described = str(problems[0])
    assert "'C'" in described and "'A'" in described
    assert "c.nii.gz" in described and "a.nii.gz" in described


def test_require_no_leakage_lists_every_leak(cases):
    with pytest.raises(LeakageError) as raised:
        require_no_leakage([cases["A"], cases["B"]], [cases["C"], cases["D"]])
    message = str(raised.value)
    assert "patient 'p2'" in message and "case 'C'" in message and "'A'" in message
    assert isinstance(raised.value, DataError)


def test_identical_content_on_one_side_is_not_leakage(cases):
    assert check_leakage([cases["A"], cases["C"]], [cases["E"]]) == []


def test_given_digests_are_used_instead_of_the_files():
    train = [CaseRecord("x", ("/no/such/x.nii.gz",), patient_id="px")]
    test = [CaseRecord("y", ("/no/such/y.nii.gz",), patient_id="py")]
    assert len(check_leakage(train, test, {"x": "same", "y": "same"})) == 1
    assert check_leakage(train, test, {"x": "one", "y": "two"}) == []


def test_split_check_compares_train_and_val_with_test(cases):
    records = [dataclasses.replace(cases["A"], split="train"),
               dataclasses.replace(cases["B"], split="val"),
               dataclasses.replace(cases["D"], split="test"),
               dataclasses.replace(cases["C"])]  # no split: on neither side
    problems = check_split_leakage(records)
    assert [p.case_id for p in problems] == ["D"]
    with pytest.raises(LeakageError, match="p2"):
        require_no_split_leakage(records)


def test_assigned_phantom_splits_do_not_leak(tmp_path):
    records = synth_knee_dataset(tmp_path, cases_per_site=5, sites=DEFAULT_SITES[:2], size=32)
    require_no_split_leakage(assign_splits(records))
    leaked = [dataclasses.replace(r, split="test" if r.case_id.endswith("-v2") else "train")
              for r in records]
    assert check_split_leakage(leaked)
