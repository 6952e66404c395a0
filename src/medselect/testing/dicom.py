"""Small synthetic DICOM MR files and series, written with pydicom, for tests of the readers and
of DICOM SEG output (no DICOM data set is downloaded)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

__all__ = ["write_dicom_series", "write_dicom_slice"]


def write_dicom_slice(path: Path, pixels: np.ndarray, *, series: str, z: float = 0.0,
                      slope: float = 1.0, intercept: float = 0.0, patient: str = "p1") -> Path:
    """A minimal MR file: ``pixels`` is ([frames,] rows, columns), PixelSpacing (0.5, 0.8),
    at height ``z`` of series (and study) ``series``."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientID, ds.PatientName = "MR", patient, f"Phantom^{patient}"
    ds.PatientBirthDate = ds.PatientSex = ds.ReferringPhysicianName = ds.AccessionNumber = ""
    ds.StudyDate, ds.StudyTime, ds.StudyID, ds.SeriesNumber = "20260101", "120000", "1", 1
    ds.StudyInstanceUID = ds.SeriesInstanceUID = series
    ds.Rows, ds.Columns = pixels.shape[-2:]
    if pixels.ndim == 3:
        ds.NumberOfFrames = pixels.shape[0]
    ds.PixelSpacing, ds.SliceThickness = [0.5, 0.8], 2.0
    ds.ImagePositionPatient, ds.ImageOrientationPatient = [10.0, 20.0, z], [1, 0, 0, 0, 1, 0]
    ds.FrameOfReferenceUID = series
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit, ds.PixelRepresentation = 15, 0
    ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    ds.InstanceNumber = int(z) + 1
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def write_dicom_series(folder: Path, volume: np.ndarray, *, patient: str = "p1") -> str:
    """``volume`` (medselect's x, y, z axes, whole numbers 0..65535) as one file per slice,
    2 mm apart, in ``folder``; returns the series' SeriesInstanceUID."""
    series = generate_uid()
    volume = volume[..., None] if volume.ndim == 2 else volume
    for k in range(volume.shape[2]):
        write_dicom_slice(folder / f"IM{k:04d}.dcm", volume[:, :, k].T, series=series,
                          z=2.0 * k, patient=patient)
    return series
