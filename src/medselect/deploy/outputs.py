"""The files a prediction of new cases leaves, laid out as nnU-Net writes its predictions.

One file per case, named for the case, in the output folder:

- segmentation (:class:`SegFormat`, ``auto`` by default): the label map ``<case_id>.nii.gz``
  with the input's spacing, origin and direction (what a viewer needs to lay it on the image);
  ``<case_id>.png`` for a PNG input (its geometry in the PNG's text chunk); for a DICOM series
  (a folder of slices) a DICOM SEG ``<case_id>.dcm`` referencing the series
  (:mod:`~medselect.deploy.dicomseg`), which PACS and viewers open on it. Inputs in other
  formats (NRRD, MetaImage, one DICOM file, TIFF) get NIfTI.
- landmarks: ``<case_id>.json``, ``name -> [x, y(, z)]`` voxel coordinates (the layout of a
  case's own landmark files), and one table ``landmarks.csv`` of every case;
- classification: ``<case_id>.json``, ``class -> probability``, and one table ``classes.csv``
  (case, most probable class, every probability).

A case id that is not a safe file name gets a cleaned name with a short digest
(:func:`~medselect.evaluate.artifacts.file_stem`); ``predictions.json`` maps case ids to files.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from medselect.config import TaskSpec
from medselect.config.choices import TaskKind, resolve
from medselect.data.loading import LoadedCase
from medselect.data.readers import image_suffix
from medselect.data.writers import write_image
from medselect.deploy.dicomseg import Algorithm, check_highdicom, write_dicom_seg
from medselect.errors import ConfigError, DataError
from medselect.evaluate.artifacts import file_stem, label_image, points_json, probabilities_json
from medselect.store import atomic_write_text

__all__ = ["PredictionFiles", "SegFormat"]

_TABLES = {TaskKind.LANDMARKS: "landmarks.csv", TaskKind.CLASSIFICATION: "classes.csv"}


class SegFormat(StrEnum):
    """The file a predicted label map is written as."""

    AUTO = "auto"
    """DICOM SEG for a DICOM series, PNG for a PNG, NIfTI for anything else."""
    NIFTI = "nifti"
    """``.nii.gz`` whatever the input."""
    DICOM_SEG = "dicom-seg"
    """DICOM SEG; a case that is not a DICOM series folder fails with a message."""

    @classmethod
    def of(cls, value: object, task: TaskSpec, sources: Sequence[str] = ()) -> SegFormat:
        """``value`` as a format for ``task``'s cases from ``sources`` (their first images).

        Raises:
            ConfigError: an unknown format, DICOM SEG asked for a task that predicts no
                label map, or DICOM SEG to write while highdicom is missing.
        """
        try:
            chosen = resolve(cls, value)
        except ValueError as exc:
            raise ConfigError(str(exc), param="seg_format") from None
        segmentation = task.family == TaskKind.SEGMENTATION
        if chosen == cls.DICOM_SEG and not segmentation:
            raise ConfigError(f"dicom-seg writes label maps, and task {task.name!r} predicts "
                              f"{task.family} (JSON/CSV files); leave it at auto",
                              param="seg_format")
        if segmentation and (chosen == cls.DICOM_SEG or (
                chosen == cls.AUTO and any(Path(s).is_dir() for s in sources))):
            check_highdicom()
        return chosen


@dataclass
class PredictionFiles:
    """Writes the predictions of one task's cases into ``folder``.

    Args:
        folder: the output folder (created on the first write).
        task: the task whose predictions these are (family, class and landmark names).
        seg_format: the file a label map is written as.
    """

    folder: Path
    task: TaskSpec
    seg_format: SegFormat = SegFormat.AUTO
    rows: list[dict[str, Any]] = field(default_factory=list)

    def write(self, case: LoadedCase, prediction: np.ndarray, source: str,
              algorithm: Algorithm | None = None) -> str:
        """Write one case's prediction; return its file name in the folder.

        Args:
            prediction: a label map of the case's shape, ``(landmarks, dims)`` points or
                ``(classes,)`` probabilities, as the task's family predicts.
            source: the case's first image file (or DICOM series folder), whose format a
                label map follows.
            algorithm: the model a DICOM SEG names (default: the name ``medselect``).

        Raises:
            DataError: DICOM SEG asked for a case that is not a DICOM series folder.
        """
        stem = file_stem(case.case_id)
        family = self.task.family
        if family == TaskKind.LANDMARKS:
            points = dict(zip(self.task.landmarks, prediction, strict=True))
            self.rows += [{"case_id": case.case_id, "landmark": name,
                           **dict(zip("xyz", map(float, xyz), strict=False))}
                          for name, xyz in points.items()]
            return self._text(f"{stem}.json", points_json(points))
        if family == TaskKind.CLASSIFICATION:
            classes = self.task.classes
            self.rows.append({"case_id": case.case_id,
                              "class": classes[int(np.argmax(prediction))],
                              **{f"p_{c}": float(p)
                                 for c, p in zip(classes, prediction, strict=True)}})
            return self._text(f"{stem}.json", probabilities_json(prediction, classes))
        series = Path(source).is_dir()
        if self.seg_format == SegFormat.DICOM_SEG and not series:
            raise DataError(f"case {case.case_id!r}: `seg_format=` dicom-seg needs a DICOM series "
                            f"folder as its image, got file {source}")
        if series and self.seg_format != SegFormat.NIFTI:
            write_dicom_seg(prediction, source, list(self.task.classes),
                            self.folder / f"{stem}.dcm", algorithm or Algorithm("medselect", ""))
            return f"{stem}.dcm"
        suffix = (".png" if prediction.ndim == 2 and image_suffix(source) == ".png"
                  and self.seg_format == SegFormat.AUTO else ".nii.gz")
        write_image(label_image(case, prediction), self.folder / f"{stem}{suffix}")
        return f"{stem}{suffix}"

    def finish(self) -> str | None:
        """Write the table of every case (landmarks, classification); return its file name,
        or None for a family without one."""
        name = _TABLES.get(self.task.family)
        if name is None or not self.rows:
            return None
        return self._text(name, _csv(self.rows))

    def _text(self, name: str, text: str) -> str:
        atomic_write_text(self.folder / name, text)
        return name


def _csv(rows: Sequence[Mapping[str, Any]]) -> str:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
