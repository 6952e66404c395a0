"""K patient-level, site-stratified folds, and the cases each run of a cross-validation sees."""

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medselect.config import CrossValidation
from medselect.data.case import CaseRecord
from medselect.data.folds import case_folds, run_cases
from medselect.data.splits import assign_folds
from medselect.errors import DataError


def _records(patients_per_site: dict[str, int]) -> list[CaseRecord]:
    """Every third patient of a site has two visits (two cases)."""
    return [CaseRecord(f"{site}-p{p}-v{v}", (), site=site, patient_id=f"{site}-p{p}")
            for site, n in patients_per_site.items() for p in range(n)
            for v in range(1, 3 if p % 3 == 0 else 2)]


def _patients(records: list[CaseRecord], fold_of: dict[str, int]) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    for r in records:
        out.setdefault(r.patient_id, set()).add(fold_of[r.case_id])
    return out


def test_a_patient_never_straddles_folds_and_each_site_is_spread_evenly():
    records = _records({"a": 10, "b": 7, "c": 5})
    fold_of = assign_folds(records, 3, seed=0)
    assert set(fold_of) == {r.case_id for r in records}
    by_patient = _patients(records, fold_of)
    assert all(len(folds) == 1 for folds in by_patient.values())
    per_site = Counter((p.split("-")[0], folds.pop()) for p, folds in by_patient.items())
    for site, n in {"a": 10, "b": 7, "c": 5}.items():
        counts = [per_site[(site, k)] for k in (1, 2, 3)]
        assert sum(counts) == n and max(counts) - min(counts) <= 1
    totals = [sum(per_site[(s, k)] for s in "abc") for k in (1, 2, 3)]
    assert sorted(totals) == [7, 7, 8]  # 22 patients


def test_deterministic_by_seed_and_patient_ids_not_input_order():
    records = _records({"a": 12, "b": 9})
    reference = assign_folds(records, 4, seed=5)
    shuffled = records[:]
    random.Random(1).shuffle(shuffled)
    assert assign_folds(shuffled, 4, seed=5) == reference
    assert assign_folds(records, 4, seed=6) != reference


def test_too_many_folds_for_the_patients_is_an_error_naming_k_and_the_counts():
    records = _records({"a": 2, "b": 1})  # 3 patients, 5 cases (p0 twice)
    with pytest.raises(DataError, match=r"5 folds of 3 patient\(s\) \(5 case\(s\)\).*fold\(s\) "
                                         r"\[4, 5\].*at most 3 folds"):
        assign_folds(records, 5)
    with pytest.raises(DataError, match="at least 2"):
        assign_folds(records, 1)


@settings(max_examples=60, deadline=None)
@given(sites=st.dictionaries(st.sampled_from("abcdef"), st.integers(0, 9), min_size=1),
       folds=st.integers(2, 6), seed=st.integers(0, 3))
def test_any_data_with_enough_patients_fills_every_fold_evenly(sites, folds, seed):
    records = _records(sites)
    n_patients = sum(sites.values())
    if n_patients < folds:
        with pytest.raises(DataError):
            assign_folds(records, folds, seed=seed)
        return
    by_patient = _patients(records, assign_folds(records, folds, seed=seed))
    assert all(len(f) == 1 for f in by_patient.values())
    totals = Counter(f.pop() for f in by_patient.values())
    assert set(totals) == set(range(1, folds + 1))
    assert max(totals.values()) - min(totals.values()) <= 1


def _rows() -> list[dict]:
    rows = [{"case_id": r.case_id, "patient_id": r.patient_id, "site": r.site,
             "split": "val" if r.patient_id.endswith("p1") else "train"}
            for r in _records({"a": 6, "b": 6})]
    return [*rows, {"case_id": "t1", "patient_id": "t", "site": "a", "split": "test"}]


def test_a_fold_run_trains_on_the_other_folds_and_validates_on_its_own():
    rows = _rows()
    fold_of = case_folds(rows, 3, seed=0)
    assert "t1" not in fold_of  # the test split is never folded
    pooled = {r["case_id"] for r in rows if r["split"] != "test"}
    for k in (1, 2, 3):
        parts = run_cases(rows, CrossValidation(folds=3, fold=k))
        train, val = ({r["case_id"] for r in parts[s]} for s in ("train", "val"))
        assert val == {c for c, f in fold_of.items() if f == k} and val
        assert train | val == pooled and not train & val


def test_refit_trains_on_all_of_train_and_val_and_a_plain_run_on_its_splits():
    rows = _rows()
    refit = run_cases(rows, CrossValidation(folds=3, final="refit"))
    assert len(refit["train"]) == len(rows) - 1 and refit["val"] == []
    plain = run_cases(rows, None)
    assert {r["split"] for r in plain["train"]} == {"train"}
    assert {r["split"] for r in plain["val"]} == {"val"}
    assert run_cases(rows, CrossValidation(folds=3, final="ensemble")) == {"train": [],
                                                                            "val": []}


def test_folds_that_cannot_be_made_name_the_experiment_field():
    with pytest.raises(DataError, match=r"ranking\.selection\.folds: 5 folds of 3 patient"):
        case_folds(_rows()[:4], 5)
