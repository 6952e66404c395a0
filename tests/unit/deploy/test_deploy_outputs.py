"""The files of predicted new cases: a label map in the input's format and geometry, landmarks
and class probabilities as one JSON per case plus one table of all cases."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from medselect.config import TaskSpec
from medselect.data.loading import LoadedCase
from medselect.data.readers import read_image
from medselect.deploy.outputs import PredictionFiles


def _case(case_id: str, shape=(6, 4)) -> LoadedCase:
    return LoadedCase(case_id, np.zeros((1, *shape), np.float32), (0.5, 2.0),
                      origin=(3.0, -1.0), direction=(0.0, 1.0, 1.0, 0.0))


@pytest.mark.parametrize(("source", "written"), [("in/c1_0000.png", "c1.png"),
                                                 ("in/c1_0000.nii.gz", "c1.nii.gz"),
                                                 ("in/c1.nrrd", "c1.nii.gz")])
def test_a_label_map_follows_the_input_format_and_geometry(tmp_path, source, written):
    files = PredictionFiles(tmp_path, TaskSpec(name="knee", classes=["background", "bone"]))
    labels = np.arange(24, dtype=np.uint8).reshape(6, 4) % 2
    assert files.write(_case("c1"), labels, source) == written
    saved = read_image(tmp_path / written, kind="label")
    np.testing.assert_array_equal(saved.array, labels)
    assert (saved.spacing, saved.origin, saved.direction) == ((0.5, 2.0), (3.0, -1.0),
                                                              (0.0, 1.0, 1.0, 0.0))
    assert files.finish() is None  # no table for label maps


def test_landmarks_and_classes_go_to_json_per_case_and_one_table(tmp_path):
    points = PredictionFiles(tmp_path / "points", TaskSpec(
        name="knee", kind="landmarks", spatial_dims=2, landmarks=["tip", "notch"]))
    name = points.write(_case("p1"), np.array([[1.5, 2.0], [3.0, 4.25]]), "p1.png")
    assert json.loads((tmp_path / "points" / name).read_text()) == {"tip": [1.5, 2.0],
                                                                    "notch": [3.0, 4.25]}
    table = points.finish()
    with open(tmp_path / "points" / table) as handle:
        assert list(csv.DictReader(handle)) == [
            {"case_id": "p1", "landmark": "tip", "x": "1.5", "y": "2.0"},
            {"case_id": "p1", "landmark": "notch", "x": "3.0", "y": "4.25"}]

    unsafe = PredictionFiles(tmp_path / "unsafe", points.task).write(
        _case("../p2"), np.zeros((2, 2)), "p2.png")  # never outside the folder
    assert unsafe.startswith("_p2-") and (tmp_path / "unsafe" / unsafe).is_file()

    grades = PredictionFiles(tmp_path / "grades", TaskSpec(
        name="knee", kind="classification", classes=["normal", "thin"]))
    for case_id, p in (("g1", [0.9, 0.1]), ("g2", [0.2, 0.8])):
        grades.write(_case(case_id), np.array(p), f"{case_id}.png")
    assert json.loads((tmp_path / "grades" / "g2.json").read_text()) == {"normal": 0.2,
                                                                         "thin": 0.8}
    assert grades.finish() == "classes.csv"
    with open(tmp_path / "grades" / "classes.csv") as handle:
        assert list(csv.DictReader(handle)) == [
            {"case_id": "g1", "class": "normal", "p_normal": "0.9", "p_thin": "0.1"},
            {"case_id": "g2", "class": "thin", "p_normal": "0.2", "p_thin": "0.8"}]
