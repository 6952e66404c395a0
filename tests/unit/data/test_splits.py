"""Patient-level, stratified, deterministic splits."""

import dataclasses
import random
import re
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medselect.data.case import CaseRecord
from medselect.data.splits import assign_splits
from medselect.errors import DataError


def _records(patients_per_site: dict[str, int], two_visits_every: int = 3) -> list[CaseRecord]:
    """Every ``two_visits_every``-th patient of a site has two cases."""
    records = []
    for site, n in patients_per_site.items():
        for p in range(n):
            visits = 2 if p % two_visits_every == 0 else 1
            records += [CaseRecord(f"{site}-p{p}-v{v}", (f"{site}-p{p}-v{v}.nii.gz",), site=site,
                                   patient_id=f"{site}-p{p}") for v in range(1, visits + 1)]
    return records


def _patient_splits(records: list[CaseRecord]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for r in records:
        out.setdefault(r.patient_id, set()).add(r.split)
    return out


def _patients_per(records: list[CaseRecord]) -> Counter:
    return Counter((r.site, r.split) for r in {r.patient_id: r for r in records}.values())


def test_patient_level_and_exactly_stratified():
    records = _records({"a": 10, "b": 10, "c": 10})
    split = assign_splits(records, {"train": 0.6, "val": 0.2, "test": 0.2})
    assert all(len(s) == 1 for s in _patient_splits(split).values())
    per = _patients_per(split)
    for site in "abc":
        assert (per[(site, "train")], per[(site, "val")], per[(site, "test")]) == (6, 2, 2)
    assert [r.case_id for r in split] == [r.case_id for r in records]


def test_independent_of_input_order_and_deterministic_by_seed():
    records = _records({"a": 12, "b": 9})
    reference = {r.case_id: r.split for r in assign_splits(records, seed=3)}
    shuffled = records[:]
    random.Random(0).shuffle(shuffled)
    assert {r.case_id: r.split for r in assign_splits(shuffled, seed=3)} == reference
    other_seed = {r.case_id: r.split for r in assign_splits(records, seed=4)}
    assert other_seed != reference


def test_each_site_of_three_patients_gets_a_test_patient():
    # 12 patients, test 0.1: by fractions alone only one or two sites would get a test patient.
    records = _records({"a": 3, "b": 3, "c": 3, "d": 3})
    per = _patients_per(assign_splits(records, {"train": 0.8, "val": 0.1, "test": 0.1}))
    assert all(per[(site, "test")] >= 1 for site in "abcd")
    assert sum(n for (_, split), n in per.items() if split == "val") >= 1


def test_rounding_is_spread_over_sites():
    # Five sites of five patients, val 0.1: rounding each site alone would give val 0 or 5.
    records = _records({s: 5 for s in "abcde"})
    per = _patients_per(assign_splits(records, {"train": 0.7, "val": 0.1, "test": 0.2}))
    totals = Counter()
    for (_, split), n in per.items():
        totals[split] += n
    assert totals == {"train": 18, "val": 2, "test": 5}
    assert all(per[(site, "test")] == 1 for site in "abcde")


def test_fixed_splits_are_kept_for_the_whole_patient():
    records = _records({"a": 6})
    fixed = [dataclasses.replace(r, split="test") if r.case_id == "a-p0-v1" else r
             for r in records]
    split = {r.case_id: r.split for r in assign_splits(fixed, seed=1)}
    assert split["a-p0-v1"] == split["a-p0-v2"] == "test"


def test_all_fixed_records_come_back_unchanged():
    records = [CaseRecord("x", ("x.nii",), split="train"),
               CaseRecord("y", ("y.nii",), split="test")]
    assert assign_splits(records) == records


def test_a_zero_fraction_leaves_its_split_empty():
    split = assign_splits(_records({"a": 8, "b": 8}), {"train": 0.75, "test": 0.25})
    assert {r.split for r in split} == {"train", "test"}


def test_stratify_by_an_attribute_or_nothing():
    records = [CaseRecord(f"c{i}", (f"c{i}.nii",),
                          attributes={"scanner": "ge" if i % 2 else "siemens"})
               for i in range(10)]
    split = assign_splits(records, {"train": 0.6, "test": 0.4}, stratify_by="scanner")
    per = Counter((r.attributes["scanner"], r.split) for r in split)
    assert per[("ge", "test")] == per[("siemens", "test")] == 2
    assert Counter(r.split for r in assign_splits(records, stratify_by=None)) == {
        "train": 7, "val": 1, "test": 2}


@pytest.mark.parametrize(
    ("records", "kwargs", "message"),
    [
        (_records({"a": 2}, two_visits_every=1), {}, "2 patient"),
        (_records({"a": 5}), {"fractions": {"train": 0.7, "test": 0.2}}, "sum to 0.9"),
        (_records({"a": 5}), {"fractions": {"train": 0.8, "testing": 0.2}}, "testing"),
        (_records({"a": 5}), {"stratify_by": "scanner"}, "scanner"),
        ([CaseRecord("x", ("x.nii",)), CaseRecord("x", ("y.nii",))], {}, "'x' appears twice"),
        ([CaseRecord("x", ("x.nii",), patient_id="p", split="train"),
          CaseRecord("y", ("y.nii",), patient_id="p", split="test")], {}, "patient 'p'"),
    ],
)
def test_impossible_requests_name_the_problem(records, kwargs, message):
    with pytest.raises(DataError, match=message):
        assign_splits(records, **kwargs)


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(1, 7), min_size=1, max_size=4), seed=st.integers(0, 5))
def test_every_case_is_split_patient_level_and_no_wanted_split_is_empty(sizes, seed):
    records = _records({f"s{i}": n for i, n in enumerate(sizes)})
    if len({r.patient_id for r in records}) < 3:
        with pytest.raises(DataError):
            assign_splits(records, seed=seed)
        return
    split = assign_splits(records, seed=seed)
    assert all(len(s) == 1 for s in _patient_splits(split).values())
    assert {r.split for r in split} == {"train", "val", "test"}
    reversed_split = {r.case_id: r.split for r in assign_splits(records[::-1], seed=seed)}
    assert reversed_split == {r.case_id: r.split for r in split}


def test_five_patients_at_three_sites_leave_no_site_only_tested():
    # The dataset: a site got a test and a val patient but no training patient.
    records = _records({"a": 2, "b": 2, "c": 1})
    for seed in range(20):
        per = _patients_per(assign_splits(records, seed=seed))
        for site in "ab":
            assert per[(site, "train")] >= 1, (seed, per)
        assert per[("c", "train")] == 1  # a site of one patient is too small to split


def test_a_site_of_one_patient_trains_unless_a_split_needs_it():
    per = _patients_per(assign_splits(_records({"a": 6, "b": 1}), seed=0))
    assert per[("b", "train")] == 1
    # three sites of one patient: two of them must give their patient to val and test
    per = _patients_per(assign_splits(_records({"a": 1, "b": 1, "c": 1}), seed=0))
    assert sorted(split for (_, split) in per) == ["test", "train", "val"]


@settings(max_examples=150, deadline=None)
@given(sizes=st.lists(st.integers(1, 9), min_size=1, max_size=6), seed=st.integers(0, 50),
       val=st.sampled_from([0.0, 0.1, 0.2]))
def test_every_site_with_held_out_patients_has_training_patients(sizes, seed, val):
    """For any number of patients and sites: no patient on two sides, and every site of two or
    more patients that has test or val patients also has training patients."""
    fractions = {"train": 0.8 - val, "val": val, "test": 0.2}
    records = _records({f"s{i}": n for i, n in enumerate(sizes)})
    wanted = 2 + (val > 0)
    if sum(sizes) < wanted:
        with pytest.raises(DataError):
            assign_splits(records, fractions, seed=seed)
        return
    split = assign_splits(records, fractions, seed=seed)
    assert all(len(s) == 1 for s in _patient_splits(split).values())
    per = _patients_per(split)
    for i, n in enumerate(sizes):
        site = f"s{i}"
        held_out = per[(site, "test")] + per[(site, "val")]
        if n >= 2 and held_out:
            assert per[(site, "train")] >= 1, (sizes, per)
        if n >= 3:
            assert per[(site, "test")] >= 1, (sizes, per)
    assert len({r.split for r in split}) == wanted


# --- held-out sites --------------------------------------------------------------------------

def test_a_held_out_site_goes_only_to_val_and_test_by_patient():
    records = _records({"a": 12, "b": 12, "e": 9})
    split = assign_splits(records, {"train": 0.5, "val": 0.25, "test": 0.25},
                          held_out_sites=["e"])
    assert all(len(s) == 1 for s in _patient_splits(split).values())
    per = _patients_per(split)
    assert per[("e", "train")] == 0
    assert per[("e", "val")] >= 2 and per[("e", "test")] >= 2
    assert per[("e", "val")] + per[("e", "test")] == 9
    for site in "ab":  # the other sites are split by the fractions as before
        assert (per[(site, "train")], per[(site, "val")], per[(site, "test")]) == (6, 3, 3)


def test_a_held_out_site_keeps_two_patients_in_val_even_when_val_is_small():
    split = assign_splits(_records({"a": 10, "e": 5}), {"train": 0.8, "val": 0.05,
                                                         "test": 0.15}, held_out_sites=["e"])
    per = _patients_per(split)
    assert (per[("e", "train")], per[("e", "val")], per[("e", "test")]) == (0, 2, 3)


@pytest.mark.parametrize(("sizes", "held", "fractions", "message"), [
    ({"a": 6, "e": 6}, ["x"], None, "split.held_out_sites: no case is of site(s) ['x']"),
    ({"a": 6, "e": 3}, ["e"], None, "site 'e' has 3 patient(s); a held-out site needs at least 4"),
    ({"a": 6, "e": 6}, ["e"], {"train": 0.8, "test": 0.2}, "split.held_out_sites"),
])
def test_bad_held_out_sites_are_refused_naming_the_field(sizes, held, fractions, message):
    with pytest.raises(DataError, match=re.escape(message)):
        assign_splits(_records(sizes), fractions or {"train": 0.6, "val": 0.2, "test": 0.2},
                      held_out_sites=held)


def test_a_site_trained_on_in_an_earlier_version_cannot_be_held_out():
    records = [dataclasses.replace(r, split="train") if r.patient_id == "e-p0" else r
               for r in _records({"a": 6, "e": 6})]
    with pytest.raises(DataError, match=r"split\.held_out_sites.*'e-p0'"):
        assign_splits(records, held_out_sites=["e"])
