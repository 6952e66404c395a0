"""Patients and cases per site and split, and the sites a split leaves too thin."""

from __future__ import annotations

from medselect.data.case import CaseRecord
from medselect.data.sitesplits import (
    MIN_TEST_PATIENTS_OVERALL,
    site_split_counts,
    split_warnings,
)


def _cases(site: str, split: str, patients: dict[str, int]) -> list[CaseRecord]:
    """``patients``: patient id -> number of cases (visits) in ``split``."""
    return [CaseRecord(case_id=f"{p}-{i}", images=("x.nii.gz",), site=site, patient_id=p,
                       split=split)
            for p, n in patients.items() for i in range(n)]


def test_patients_are_counted_once_and_cases_each():
    records = [*_cases("A", "train", {"a1": 2, "a2": 1}), *_cases("A", "test", {"a3": 3}),
               CaseRecord(case_id="loose", images=("x",), site="A")]  # no split: not counted
    counts = site_split_counts(records)
    assert counts["A"].patients == {"train": 2, "val": 0, "test": 1}
    assert counts["A"].cases == {"train": 3, "val": 0, "test": 3}
    assert counts["A"].describe() == "patients train 2 / val 0 / test 1, cases 3 / 0 / 3"


def test_a_well_split_site_gives_no_warning():
    records = [*_cases("A", "train", {"a1": 1, "a2": 1}), *_cases("A", "val", {"a3": 1}),
               *_cases("A", "test", {f"t{i}": 1 for i in range(MIN_TEST_PATIENTS_OVERALL)})]
    assert split_warnings(site_split_counts(records)) == []


def test_held_out_patients_without_training_patients_and_few_test_patients_are_warned():
    records = [
        *_cases("A", "train", {"a1": 1}), *_cases("A", "test", {"a2": 1, "a3": 1, "a4": 2}),
        *_cases("B", "test", {"b1": 1}), *_cases("B", "val", {"b2": 1}),
        *_cases("C", "val", {"c1": 2}),
        *_cases("D", "train", {"d1": 1}),
    ]
    warnings = split_warnings(site_split_counts(records))
    assert [(w.site, w.problem) for w in warnings] == [
        ("B", "no_training_patients"), ("B", "few_test_patients"),
        ("C", "no_training_patients"), ("C", "few_test_patients"),
        ("D", "not_tested"), (None, "few_test_patients_overall")]
    b_none, b_few, _, c_few, d_none, overall = (w.message for w in warnings)
    assert b_none.startswith("site 'B' has held-out patients but no training patient "
                             "(patients train 0 / val 1 / test 1, cases 0 / 1 / 1)")
    assert "import more patients of site 'B'" in b_none and "data.split.fractions" in b_none
    assert b_few.startswith("site 'B' has only 1 test patient, fewer than 3")
    assert c_few.startswith("site 'C' has no test patient, fewer than 3")
    assert d_none.startswith("site 'D' has no held-out patient") and "too small" in d_none
    assert overall.startswith("the test set holds 4 patients, fewer than 10")
    assert warnings[0].to_dict() == {"site": "B", "problem": "no_training_patients",
                                     "message": b_none}


def test_two_test_patients_are_still_too_few():
    records = [*_cases("A", "train", {"a1": 1}), *_cases("A", "test", {"t1": 1, "t2": 5})]
    [warning, _] = split_warnings(site_split_counts(records))
    assert warning.message.startswith("site 'A' has only 2 test patients, fewer than 3 "
                                      "(patients train 1 / val 0 / test 2, cases 1 / 0 / 6)")


def test_a_site_held_out_on_purpose_is_not_warned_for_lacking_training_patients():
    records = [*_cases("A", "train", {"a1": 1}), *_cases("A", "val", {"a2": 1}),
               *_cases("A", "test", {"a3": 1, "a4": 1, "a5": 1}),
               *_cases("E", "val", {"e1": 1, "e2": 1}),
               *_cases("E", "test", {f"e{i}": 1 for i in range(3, 3 + MIN_TEST_PATIENTS_OVERALL)})]
    assert [(w.site, w.problem) for w in split_warnings(site_split_counts(records))] == [
        ("E", "no_training_patients")]
    assert [(w.site, w.problem) for w in split_warnings(site_split_counts(records),
                                                        held_out_sites=["E"])] == []
