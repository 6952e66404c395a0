"""A predicted label map of a DICOM series as a DICOM SEG, read back with highdicom: one
segment per foreground class named by it, each frame the prediction on the slice it
references, the source series referenced by its UID, the champion named as the algorithm."""

from __future__ import annotations

import highdicom as hd
import numpy as np
import pydicom
import pytest

from medselect.config import TaskSpec
from medselect.data.loading import load_case
from medselect.data.readers import dicom_series_files, read_image
from medselect.deploy.dicomseg import Algorithm
from medselect.deploy.outputs import PredictionFiles, SegFormat
from medselect.errors import ConfigError, DataError
from medselect.testing.dicom import write_dicom_series

TASK = TaskSpec(name="knee", classes=["background", "femur", "tibia"])
VOLUME = np.arange(60, dtype=np.float32).reshape(5, 4, 3)  # x, y, z: 3 slices of 4 rows x 5


@pytest.fixture
def series(tmp_path):
    folder = tmp_path / "in" / "c1"
    uid = write_dicom_series(folder, VOLUME)
    return folder, uid


def _labels() -> np.ndarray:
    labels = np.zeros(VOLUME.shape, np.uint8)
    labels[1:3, 1:3, 0] = 1  # femur on slice 0
    labels[2:5, 0:2, 2] = 2  # tibia on slice 2, nothing on slice 1
    labels[0, 3, 2] = 1
    return labels


def test_a_dicom_series_prediction_is_a_seg_referencing_the_series(tmp_path, series):
    folder, uid = series
    case = load_case({"case_id": "c1", "image_uris": [str(folder)]}, lambda u: u)
    np.testing.assert_array_equal(read_image(folder).array, VOLUME)  # medselect's axes
    files = PredictionFiles(tmp_path / "out", TASK)
    labels = _labels()
    name = files.write(case, labels, str(folder), Algorithm("run-7", "site:lyon v2"))
    assert name == "c1.dcm"
    seg = hd.seg.segread(tmp_path / "out" / name)
    assert seg.SegmentationType == "BINARY" and seg.Modality == "SEG"
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == uid
    assert seg.StudyInstanceUID == uid and seg.PatientID == "p1"
    assert seg.FrameOfReferenceUID == uid
    described = {n: seg.get_segment_description(n) for n in seg.get_segment_numbers()}
    assert {n: d.segment_label for n, d in described.items()} == {1: "femur", 2: "tibia"}
    algorithm = described[1].algorithm_identification[0]
    assert (algorithm.AlgorithmName, algorithm.AlgorithmVersion) == ("run-7", "site:lyon v2")
    sources = [pydicom.dcmread(f) for f in dicom_series_files(folder)]
    for k, source in enumerate(sources):  # each slice's frame is the prediction on it
        frame = seg.get_pixels_by_source_instance(
            source_sop_instance_uids=[source.SOPInstanceUID], combine_segments=True,
            skip_overlap_checks=True)[0]
        np.testing.assert_array_equal(frame, labels[:, :, k].T)
    empty = files.write(load_case({"case_id": "c0", "image_uris": [str(folder)]},
                                  lambda u: u), np.zeros_like(labels), str(folder))
    nothing = hd.seg.segread(tmp_path / "out" / empty)  # nothing found is still an answer
    assert nothing.get_segment_numbers() == [1, 2]
    assert not nothing.get_pixels_by_source_instance(
        source_sop_instance_uids=[s.SOPInstanceUID for s in sources],
        combine_segments=True, skip_overlap_checks=True).any()
    again = PredictionFiles(tmp_path / "again", TASK).write(
        case, labels, str(folder), Algorithm("run-7", "site:lyon v2"))
    assert pydicom.dcmread(tmp_path / "again" / again).SOPInstanceUID == seg.SOPInstanceUID


def test_nifti_on_request_and_seg_refused_where_it_cannot_be(tmp_path, series):
    folder, _ = series
    case = load_case({"case_id": "c1", "image_uris": [str(folder)]}, lambda u: u)
    nifti = PredictionFiles(tmp_path / "nifti", TASK, SegFormat.NIFTI)
    assert nifti.write(case, _labels(), str(folder)) == "c1.nii.gz"
    np.testing.assert_array_equal(read_image(tmp_path / "nifti" / "c1.nii.gz",
                                             kind="label").array, _labels())
    seg = PredictionFiles(tmp_path / "seg", TASK, SegFormat.DICOM_SEG)
    with pytest.raises(DataError, match="'c2': `seg_format=` dicom-seg needs a DICOM series"):
        seg.write(load_case({"case_id": "c2", "image_uris": [str(folder)]}, lambda u: u),
                  _labels(), str(tmp_path / "nifti" / "c1.nii.gz"))
    with pytest.raises(DataError, match=r"prediction has shape \(3, 5, 4\).*series has "
                                        r"\(3, 4, 5\)"):
        seg.write(case, _labels().transpose(1, 0, 2).copy(), str(folder))
    with pytest.raises(DataError, match="do not all name one of the task's 3 classes"):
        seg.write(case, _labels() * 2, str(folder))


def test_the_format_is_checked_before_anything_is_predicted(tmp_path):
    with pytest.raises(ConfigError, match="did you mean 'dicom-seg'"):
        SegFormat.of("dicom_seg", TASK)
    points = TaskSpec(name="knee", kind="landmarks", spatial_dims=2, landmarks=["tip"])
    with pytest.raises(ConfigError, match="'knee' predicts landmarks"):
        SegFormat.of("dicom-seg", points)
    assert SegFormat.of("AUTO", TASK, [str(tmp_path)]) == SegFormat.AUTO
