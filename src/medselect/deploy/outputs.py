"""The files a prediction of new cases leaves, laid out as nnU-Net writes its predictions.

One file per case, named for the case, in the output folder:

- segmentation: the label map ``<case_id>.nii.gz`` with the input's spacing, origin and
  direction (what a viewer needs to lay it on the image); ``<case_id>.png`` for a PNG input
  (its geometry in the PNG's text chunk). Inputs in other formats (NRRD, MetaImage, DICOM,
  TIFF) get NIfTI.
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
from pathlib import Path
from typing import Any

import numpy as np

from medselect.config import TaskSpec
from medselect.config.choices import TaskKind
from medselect.data.loading import LoadedCase
from medselect.data.readers import image_suffix
from medselect.data.writers import write_image
from medselect.evaluate.artifacts import file_stem, label_image, points_json, probabilities_json
from medselect.store import atomic_write_text

__all__ = ["PredictionFiles"]

_TABLES = {TaskKind.LANDMARKS: "landmarks.csv", TaskKind.CLASSIFICATION: "classes.csv"}


@dataclass
class PredictionFiles:
    """Writes the predictions of one task's cases into ``folder``.

    Args:
        folder: the output folder (created on the first write).
        task: the task whose predictions these are (family, class and landmark names).
    """

    folder: Path
    task: TaskSpec
    rows: list[dict[str, Any]] = field(default_factory=list)

    def write(self, case: LoadedCase, prediction: np.ndarray, source: str) -> str:
        """Write one case's prediction; return its file name in the folder.

        Args:
            prediction: a label map of the case's shape, ``(landmarks, dims)`` points or
                ``(classes,)`` probabilities, as the task's family predicts.
            source: the case's first image file, whose format a label map follows.
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
        suffix = ".png" if prediction.ndim == 2 and image_suffix(source) == ".png" else ".nii.gz"
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
