"""read_manifest / write_manifest on small CSV and JSON files in tmp_path."""

from __future__ import annotations

import json
import os

import pytest

from medselect.data.case import CaseRecord
from medselect.data.manifest import read_manifest, write_manifest
from medselect.errors import DatasetInvalid

HEADER = "case_id,image,label,site,patient_id,split,target,scanner\n"


@pytest.fixture()
def files(tmp_path):
    """Image files a manifest in tmp_path can point to (content is not read here)."""
    for name in ("a_t1.nii.gz", "a_t2.nii.gz", "a_seg.nii.gz", "b.nii.gz", "b_seg.nii.gz"):
        (tmp_path / "img" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "img" / name).write_bytes(b"")
    return tmp_path


def write_csv(folder, body, name="m.csv", header=HEADER):
    path = folder / name
    path.write_text(header + body)
    return path


def problems_of(path):
    with pytest.raises(DatasetInvalid) as err:
        read_manifest(path)
    assert err.value.source == str(path)
    return err.value.problems


def test_csv_manifest(files):
    path = write_csv(files, "a,img/a_t1.nii.gz;img/a_t2.nii.gz,img/a_seg.nii.gz,s1,p1,train,,1.5T\n"
                            f"b,{files}/img/b.nii.gz,,s2,p2,,1,\n")
    a, b = read_manifest(path)
    assert a == CaseRecord("a", (str(files / "img/a_t1.nii.gz"), str(files / "img/a_t2.nii.gz")),
                           label=str(files / "img/a_seg.nii.gz"), site="s1", patient_id="p1",
                           split="train")
    assert a.attributes == {"scanner": "1.5T"}
    assert (b.images, b.label, b.split, b.target, b.attributes) == (
        (str(files / "img/b.nii.gz"),), None, None, 1, {})


def test_relative_paths_resolve_against_the_manifest_folder(files, monkeypatch):
    (files / "lists").mkdir()
    path = write_csv(files / "lists", "b,../img/b.nii.gz,,s,p,,,\n")
    monkeypatch.chdir(files / "img")  # the working directory must not matter
    assert read_manifest(path)[0].images == (str(files / "img" / "b.nii.gz"),)


@pytest.mark.parametrize("wrap", [False, True])
def test_json_manifest(files, wrap):
    cases = [{"case_id": "a", "image": ["img/a_t1.nii.gz", "img/a_t2.nii.gz"], "site": "s1",
              "patient_id": "p1", "split": "test", "target": 2, "age": 61},
             {"case_id": "b", "image": "img/b.nii.gz", "label": "img/b_seg.nii.gz",
              "site": "s1", "patient_id": "p2"}]
    path = files / "m.json"
    path.write_text(json.dumps({"cases": cases} if wrap else cases))
    a, b = read_manifest(path)
    assert len(a.images) == 2 and a.split == "test" and a.target == 2
    assert a.attributes == {"age": "61"}
    assert b.label == str(files / "img/b_seg.nii.gz")


def test_missing_required_column(files):
    path = write_csv(files, "a,img/b.nii.gz\n", header="case_id,image\n")
    problems = problems_of(path)
    assert [p.message.split(";")[0] for p in problems] == [
        "required column 'site' is missing", "required column 'patient_id' is missing"]
    assert all(p.file == str(path) for p in problems)


def test_every_row_problem_is_reported_with_row_case_and_file(files):
    path = write_csv(files,
                     "a,img/a_t1.nii.gz,,s,p,training,,\n"     # row 2: unknown split
                     "b,img/b.nii.gz,,s,p,,1.5,\n"             # row 3: non-integer target
                     "c,img/absent.nii.gz,,s,p,,,\n"           # row 4: missing file
                     "a,img/b.nii.gz,,,p,,,\n"                 # row 5: empty site
                     "d,img/b.nii.gz,,s,p,,,\n"
                     "d,img/b.nii.gz,,s,p,,,\n")              # rows 6, 7: duplicate id
    problems = problems_of(path)
    text = [str(p) for p in problems]
    assert len(problems) == 6
    assert problems[0].case_id == "a" and "row 2: unknown split 'training'" in text[0]
    assert "did you mean 'train'?" in text[0]
    assert problems[1].case_id == "b" and "row 3: target '1.5' is not an integer" in text[1]
    assert problems[2].case_id == "c" and problems[2].file == str(files / "img/absent.nii.gz")
    assert "row 4: image file does not exist" in text[2]
    assert "row 5: 'site' is empty" in text[3]
    assert problems[4].case_id == "a" and "appears 2 times (row 2, row 5)" in text[4]
    assert problems[5].case_id == "d" and "appears 2 times (row 6, row 7)" in text[5]


def test_empty_manifest(files):
    for path in (write_csv(files, ""), write_csv(files, "", name="e.csv", header="")):
        [problem] = problems_of(path)
        assert "no cases" in problem.message and problem.file == str(path)
    (files / "e.json").write_text("[]")
    assert "no cases" in problems_of(files / "e.json")[0].message


def test_malformed_json(files):
    path = files / "m.json"
    path.write_text('[{"case_id": "a",}]')
    [problem] = problems_of(path)
    assert "not valid JSON" in problem.message and "line 1" in problem.message
    path.write_text('{"items": []}')
    assert "expected a list of cases" in problems_of(path)[0].message


def test_missing_manifest_and_unknown_format(tmp_path):
    assert "does not exist" in problems_of(tmp_path / "absent.csv")[0].message
    (tmp_path / "m.xlsx").write_bytes(b"")
    assert "use .csv, .tsv or .json" in problems_of(tmp_path / "m.xlsx")[0].message


def test_write_then_read_gives_the_same_records(files):
    records = [
        CaseRecord("a", (str(files / "img/a_t1.nii.gz"), str(files / "img/a_t2.nii.gz")),
                   label=str(files / "img/a_seg.nii.gz"), site="s1", patient_id="p1",
                   split="val", target=0, attributes={"scanner": "3T"}),
        CaseRecord("b", (str(files / "img/b.nii.gz"),), site="s2", attributes={"age": "40"}),
    ]
    path = write_manifest(records, files / "out.csv")
    assert path.read_text().splitlines()[1].startswith("a,img/a_t1.nii.gz;img/a_t2.nii.gz,")
    again = read_manifest(path)
    assert again == records
    assert [r.attributes for r in again] == [{"scanner": "3T"}, {"age": "40"}]
    assert not [name for name in os.listdir(files) if name.startswith(".")]  # no temp file left
