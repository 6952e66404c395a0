"""A predicted label map as a DICOM Segmentation (SEG) of the series it was predicted on.

A hospital's PACS and viewers (OHIF, 3D Slicer, most vendor workstations) take a segmentation
as a DICOM SEG object that references the image series by its UIDs, so it opens on the
series with no registration. :func:`write_dicom_seg` writes one with highdicom (the reference
implementation of DICOM SEG in Python): a BINARY segmentation, one segment per foreground
class of the task named by the class (the label map's value ``i`` is segment ``i``, the
class ``classes[i]``), every frame derived from the source slice it lies on, the champion
named as the algorithm (``AlgorithmIdentificationSequence``: the model, its registry scope
and version). The segments are coded generically (category and type "Tissue", SNOMED CT); the
segment label carries the class name.

The label map must have the geometry medselect read from the series: slice ``k`` of its last
axis is the file ``k`` of :func:`~medselect.data.readers.dicom_series_files`. UIDs derive from
the source series and the model, so predicting the same series with the same champion again
gives the same SEG instance.

Needs the ``dicom`` extra (``pip install 'medselect[dicom]'``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from medselect.data.readers import dicom_series_files
from medselect.errors import ConfigError, DataError
from medselect.store import atomic_write_bytes

if TYPE_CHECKING:
    import pydicom

__all__ = ["Algorithm", "check_highdicom", "write_dicom_seg"]


@dataclass(frozen=True)
class Algorithm:
    """The model a SEG names as its algorithm: ``name`` (the model ref) and ``version``
    (its registry scope and version, e.g. ``site:lyon v2``)."""

    name: str
    version: str


def check_highdicom() -> None:
    """Raises ConfigError, with the install command, when highdicom is missing."""
    try:
        import highdicom  # noqa: F401
    except ImportError:
        raise ConfigError("DICOM SEG output needs highdicom: pip install 'medselect[dicom]' "
                          "(or write NIfTI with `seg_format=` nifti)") from None


def write_dicom_seg(labels: np.ndarray, series: str | Path, classes: list[str],
                    path: str | Path, algorithm: Algorithm) -> Path:
    """Write the label map ``labels`` (the series' shape, medselect's x, y[, z] axes) as a DICOM
    SEG referencing the DICOM series in folder ``series``; return ``path``.

    Raises:
        ConfigError: highdicom is not installed.
        DataError: ``series`` is not one DICOM series, or ``labels`` does not match its shape
            or holds a value with no class.
    """
    check_highdicom()
    import highdicom as hd
    import pydicom
    from pydicom.sr.codedict import codes

    sources = [pydicom.dcmread(f) for f in dicom_series_files(series)]
    frames = _frames(labels, sources, series)
    n_classes = len(classes)
    if frames.size and (frames.min() < 0 or frames.max() >= n_classes):
        raise DataError(f"{series}: label values {frames.min()}..{frames.max()} do not all "
                        f"name one of the task's {n_classes} classes")
    identification = hd.AlgorithmIdentificationSequence(
        name=algorithm.name, version=algorithm.version,
        family=codes.DCM.ArtificialIntelligence, source="medselect")
    segments = [hd.seg.SegmentDescription(
        segment_number=i, segment_label=classes[i],
        segmented_property_category=codes.SCT.Tissue, segmented_property_type=codes.SCT.Tissue,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=identification) for i in range(1, n_classes)]
    reference = sources[0]
    seed = [str(reference.SeriesInstanceUID), algorithm.name, algorithm.version]
    try:
        seg = _segmentation(hd, frames, sources, segments, seed, algorithm)
    except (AttributeError, ValueError, TypeError) as exc:  # e.g. a slice without its patient
        raise DataError(f"{series}: a DICOM SEG cannot reference this series ({exc}); its "
                        "slices need the patient, study and frame-of-reference attributes "
                        "a scanner writes") from exc
    return atomic_write_bytes(Path(path), _encoded(seg))


def _segmentation(hd, frames: np.ndarray, sources: list[pydicom.Dataset], segments: list,
                  seed: list[str], algorithm: Algorithm) -> pydicom.Dataset:
    import pydicom

    reference = sources[0]
    n_classes = len(segments) + 1
    return hd.seg.Segmentation(
        source_images=sources, pixel_array=frames.astype(np.uint8 if n_classes <= 256
                                                         else np.uint16),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=segments,
        series_instance_uid=pydicom.uid.generate_uid(entropy_srcs=[*seed, "series"]),
        series_number=int(getattr(reference, "SeriesNumber", None) or 0) + 1000,
        sop_instance_uid=pydicom.uid.generate_uid(entropy_srcs=[*seed, "instance"]),
        instance_number=1, manufacturer="medselect",
        manufacturer_model_name=algorithm.name[:64], software_versions=_medselect_version(),
        device_serial_number=algorithm.version[:64],
        series_description=f"medselect {algorithm.name} ({algorithm.version})"[:64])


def _frames(labels: np.ndarray, sources: list[pydicom.Dataset], series: str | Path
            ) -> np.ndarray:
    """The label map as (slices, rows, columns) in the order of ``sources``."""
    volume = labels[..., None] if labels.ndim == 2 else labels
    frames = np.transpose(volume, (2, 1, 0))  # x, y, z -> slice, row (y), column (x)
    expected = (len(sources), int(sources[0].Rows), int(sources[0].Columns))
    if frames.shape != expected:
        raise DataError(f"{series}: the prediction has shape {frames.shape} (slices, rows, "
                        f"columns) but the series has {expected}")
    return frames


def _encoded(seg: pydicom.Dataset) -> bytes:
    from io import BytesIO

    buffer = BytesIO()
    seg.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _medselect_version() -> str:
    from medselect import __version__

    return __version__
