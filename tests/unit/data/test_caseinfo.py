"""Patients, sites and attributes from a pattern, a table and a default site."""

from __future__ import annotations

import re

import pytest

from medselect.data.case import CaseRecord
from medselect.data.caseinfo import CaseInfo, slice_like_ids
from medselect.errors import DataError, DatasetInvalid


def cases(*ids: str, site: str = "default") -> list[CaseRecord]:
    return [CaseRecord(case_id, (f"{case_id}.nii.gz",), site=site) for case_id in ids]


def test_pattern_gives_patient_and_site():
    info = CaseInfo.of(patients=r"(?P<site>[a-z]+)-(?P<patient>p\d+)_z\d+")
    out = info.apply(cases("lyon-p1_z01", "lyon-p1_z02", "oslo-p2_z01"))
    assert [(r.patient_id, r.site) for r in out] == [("p1", "lyon"), ("p1", "lyon"),
                                                    ("p2", "oslo")]


def test_table_wins_over_pattern_and_adds_attributes(tmp_path):
    table = tmp_path / "info.csv"
    table.write_text("case_id,patient_id,site,scanner\na_z1,,lyon,GE\na_z2,x,oslo,\n")
    info = CaseInfo.of(patients=r"(?P<patient>.+)_z\d+", case_info=table)
    first, second = info.apply(cases("a_z1", "a_z2"))
    assert (first.patient_id, first.site, first.attributes) == ("a", "lyon", {"scanner": "GE"})
    assert (second.patient_id, second.site, second.attributes) == ("x", "oslo", {})


def test_default_site_only_for_cases_without_one():
    out = CaseInfo.of(site="lyon").apply(cases("a") + cases("b", site="oslo"))
    assert [r.site for r in out] == ["lyon", "oslo"]
    assert [r.patient_id for r in out] == ["a", "b"]


def test_every_problem_is_listed(tmp_path):
    table = tmp_path / "info.csv"
    table.write_text("case_id,patient_id\na_z1,p\nghost,q\n")
    info = CaseInfo.of(patients=r"(?P<patient>.+)_z\d+", case_info=table)
    with pytest.raises(DatasetInvalid) as err:
        info.apply(cases("a_z1", "b_slice2", "c_z3"))
    text = "\n".join(map(str, err.value.problems))
    assert "case 'b_slice2'" in text and "does not match the patients pattern" in text
    assert "case 'c_z3'" in text and "no row in the case-info table" in text
    assert "'ghost', which is not in the source" in text
    assert len(err.value.problems) == 4  # b: pattern and row; c: row; ghost


@pytest.mark.parametrize(("pattern", "message"), [
    ("(?P<patient>.+", "not a regular expression"),
    (r"(.+)_z\d+", "no named group 'patient'"),
])
def test_bad_pattern(pattern, message):
    with pytest.raises(DataError, match=re.escape(message)):
        CaseInfo.of(patients=pattern)


def test_bad_table(tmp_path):
    table = tmp_path / "info.csv"
    table.write_text("patient,site\np1,lyon\n")
    with pytest.raises(DatasetInvalid, match="'case_id' is missing"):
        CaseInfo.of(case_info=table)
    table.write_text("case_id,site\na,lyon\na,oslo\n")
    with pytest.raises(DatasetInvalid, match="appears 2 times"):
        CaseInfo.of(case_info=table)


@pytest.mark.parametrize(("ids", "grouped", "patients"), [
    (["p1_z012", "p1_z013", "p2_z001"], 3, 2),
    (["sub-01_ses-1", "sub-01_ses-2", "sub-02_ses-1"], 3, 2),
    (["liver_1_3", "liver_1_4", "liver_2_1"], 3, 2),
    (["knee7_slice3", "knee7_slice4"], 2, 1),
])
def test_slice_like_ids_are_noticed_and_the_pattern_groups_them(ids, grouped, patients):
    hint = slice_like_ids(cases(*ids))
    assert (hint.n_cases, hint.n_patients) == (grouped, patients)
    assert "`patients=`" in hint.message and "`case_info=`" in hint.message
    mapped = CaseInfo.of(patients=hint.pattern).apply(cases(*ids))
    assert len({r.patient_id for r in mapped}) == patients


@pytest.mark.parametrize("ids", [
    ["patient001", "patient002", "patient003"],  # one case per patient
    ["case_001", "case_002"],
    ["p1_z1", "p2_z1"],  # slice-like, but one per patient
])
def test_ids_of_one_case_per_patient_raise_no_hint(ids):
    assert slice_like_ids(cases(*ids)) is None


def test_no_hint_once_patients_are_mapped():
    mapped = CaseInfo.of(patients=r"(?P<patient>.+)_z\d+").apply(cases("p1_z1", "p1_z2"))
    assert slice_like_ids(mapped) is None
