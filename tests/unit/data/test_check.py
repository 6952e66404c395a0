"""check_dataset / require_valid on tiny real files with one known fault each."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from medselect.data.case import CaseRecord
from medselect.data.check import check_case, check_dataset, require_valid
from medselect.data.image import Image
from medselect.data.writers import write_image
from medselect.errors import DatasetInvalid

CLASSES = ["background", "femur", "tibia", "patella", "cartilage", "meniscus"]  # 0..5


def write(folder, name, array, spacing=(1.0, 1.0, 2.0)):
    return str(write_image(Image(np.asarray(array), spacing), folder / name))


def volume(shape=(4, 4, 3)):
    return np.random.default_rng(0).random(shape).astype(np.float32)


def labels(shape=(4, 4, 3), value=1):
    array = np.zeros(shape, np.uint8)
    array[1, 1, 1] = value
    return array


def good_case(folder, case_id="c1", **changes):
    files = {"images": (write(folder, f"{case_id}_0000.nii.gz", volume()),),
             "label": write(folder, f"{case_id}_seg.nii.gz", labels())}
    return CaseRecord(case_id, **{**files, **changes})


def only_problem(record, **kwargs):
    [problem] = check_dataset([record], CLASSES, **kwargs)
    assert problem.case_id == record.case_id
    return problem


def test_good_case_has_no_problems(tmp_path):
    assert check_dataset([good_case(tmp_path)], CLASSES, spatial_dims=3) == []


def test_truncated_nifti_names_case_and_file(tmp_path):
    record = good_case(tmp_path)
    with open(record.images[0], "r+b") as file:
        file.truncate(200)
    problem = only_problem(record)
    assert problem.file == record.images[0]
    assert "cannot be read as NIfTI" in problem.message and "truncated" in problem.message
    assert not problem.message.startswith(record.images[0])  # the path is in .file, once
    assert str(problem).startswith(f"case 'c1', {record.images[0]}: cannot be read")


def test_corrupt_png(tmp_path):
    path = write(tmp_path, "c.png", np.zeros((32, 32), np.uint8), spacing=(1.0, 1.0))
    with open(path, "r+b") as file:
        file.truncate(50)
    problem = only_problem(CaseRecord("p", (path,)))
    assert problem.file == path and "cannot be read as PNG" in problem.message


def test_nan_image(tmp_path):
    data = volume()
    data[0, 0, 0] = np.nan
    nib.save(nib.Nifti1Image(data, np.diag([1.0, 1.0, 2.0, 1.0])), tmp_path / "nan.nii.gz")
    record = good_case(tmp_path, images=(str(tmp_path / "nan.nii.gz"),))
    assert "1 NaN or infinite values" in only_problem(record).message


def test_label_value_outside_classes(tmp_path):
    label = labels()
    label[0, 0, 0] = 7
    record = good_case(tmp_path, label=write(tmp_path, "seg7.nii.gz", label))
    problem = only_problem(record)
    assert problem.file == record.label
    assert problem.message.startswith("label values 7 are outside 0..5 (6 classes: background")


def test_shape_mismatch(tmp_path):
    record = good_case(tmp_path, label=write(tmp_path, "small.nii.gz", labels((4, 4, 2))))
    problem = only_problem(record)
    assert problem.file == record.label
    assert "label shape (4, 4, 2) differs from image shape (4, 4, 3)" in problem.message


def test_spacing_mismatch_beyond_tolerance_only(tmp_path):
    close = good_case(tmp_path, label=write(tmp_path, "close.nii.gz", labels(),
                                            spacing=(1.0005, 1.0, 2.0)))
    assert check_dataset([close], CLASSES) == []
    far = good_case(tmp_path, label=write(tmp_path, "far.nii.gz", labels(),
                                          spacing=(1.01, 1.0, 2.0)))
    problem = only_problem(far)
    assert "label spacing (1.01, 1, 2) mm differs from image spacing (1, 1, 2) mm" \
        in problem.message


def test_channels_of_a_case_differ(tmp_path):
    record = good_case(tmp_path, images=(write(tmp_path, "t1.nii.gz", volume()),
                                         write(tmp_path, "t2.nii.gz", volume((4, 5, 3)))))
    problems = check_dataset([record], CLASSES)
    assert [p.file for p in problems] == [record.images[1]]
    assert "channel 1 shape (4, 5, 3) differs from image shape (4, 4, 3)" in problems[0].message


def test_wrong_dimensionality(tmp_path):
    path = write(tmp_path, "flat.nii.gz", np.zeros((4, 4), np.float32), spacing=(1.0, 1.0))
    problem = only_problem(CaseRecord("f", (path,)), spatial_dims=3)
    assert "2D image of shape (4, 4), but the task is 3D" in problem.message


def test_missing_file(tmp_path):
    record = good_case(tmp_path, label=str(tmp_path / "absent.nii.gz"))
    problem = only_problem(record)
    assert problem.file == record.label and "does not exist" in problem.message


@pytest.mark.parametrize(("content", "expected"), [
    ('{"knee": [1, 2, ', "not valid JSON"),
    ('[[1, 2, 1]]', "must hold an object"),
    ('{"knee": [1, 2]}', "landmark 'knee' is [1, 2]"),
    ('{"knee": [1, 2, 1], "hip": [4.0, 1, 1]}', "landmarks 'hip' lie outside the image"),
])
def test_bad_landmarks(tmp_path, content, expected):
    (tmp_path / "lm.json").write_text(content)
    record = good_case(tmp_path, landmarks=str(tmp_path / "lm.json"))
    problem = only_problem(record)
    assert expected in problem.message and problem.file == record.landmarks


def test_landmarks_on_the_edge_are_inside(tmp_path):
    (tmp_path / "lm.json").write_text(json.dumps({"a": [-0.5, 0, 0], "b": [3.5, 3, 2.4]}))
    assert check_dataset([good_case(tmp_path, landmarks=str(tmp_path / "lm.json"))]) == []


def test_target_outside_classes(tmp_path):
    record = good_case(tmp_path, target=6)
    assert "target 6 is not a class index 0..5" in only_problem(record).message


def test_duplicate_ids_empty_dataset_and_every_problem_is_listed(tmp_path):
    assert "no cases" in check_dataset([], CLASSES)[0].message
    bad_label = labels()
    bad_label[0, 0, 0] = 9
    records = [good_case(tmp_path, "a"),
               good_case(tmp_path, "a"),
               good_case(tmp_path, "b", images=(str(tmp_path / "gone.nii.gz"),),
                         label=write(tmp_path, "b9.nii.gz", bad_label))]
    problems = check_dataset(records, CLASSES)
    assert [(p.case_id, p.message.split(" ")[0]) for p in problems] == [
        ("a", "case"), ("b", "file"), ("b", "label")]
    assert problems[0].message == "case id appears 2 times; case ids must be unique"
    with pytest.raises(DatasetInvalid) as err:
        require_valid(records, CLASSES, source="knee.csv")
    assert err.value.problems == problems
    assert str(err.value).startswith("knee.csv: case 'a': case id appears 2 times")
    assert str(err.value).endswith("(and 2 more)")
    assert require_valid(records[:1], CLASSES) is None


def test_check_case_without_classes_skips_value_checks(tmp_path):
    label = labels(value=42)
    record = good_case(tmp_path, label=write(tmp_path, "l.nii.gz", label), target=99)
    assert check_case(record) == []
