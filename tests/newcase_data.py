"""A real workspace with new cases for the drift, review-queue and reviewed-case tests.

The tiny knee phantom is imported as the task's dataset; its test cases are copied as *new*,
unlabelled cases of new patients (the same sites), with their intensities scaled and shifted
(:data:`GAIN`, :data:`OFFSET`) when asked, and stored as a case set of kind ``new``. Two models
made elsewhere are evaluated on the test split and on the new cases: ``external:exact`` predicts
each case's reference label map, ``external:rough`` the same except on the cases of
:data:`DISAGREE` (a prediction emptied of everything but the femur), so those cases lead the
"review first" queue.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from medselect.config import EvaluationSpec, TaskSpec
from medselect.data.case import CaseRecord
from medselect.data.image import Image
from medselect.data.importer import import_case_set, import_dataset
from medselect.data.readers import read_image
from medselect.data.sources import read_source
from medselect.data.writers import write_image
from medselect.evaluate import evaluate_external
from medselect.store import Workspace, case_set_members

CLASSES = ["background", "femur", "tibia", "patella", "femoral_cartilage", "tibial_cartilage"]
TASK = TaskSpec(name="knee", classes=CLASSES)
SPEC = EvaluationSpec(metrics=["dice"])
GAIN, OFFSET = 3.0, 2.0
MODELS = ("external:exact", "external:rough")
DISAGREE = 2
"""How many new cases (the first by id) the two models disagree on."""


def build_new_case_workspace(root: Path, phantom: Path, *, shift: bool = True,
                             name: str = "lyon") -> tuple[Workspace, str]:
    """The workspace at ``root`` and the id of its new, unlabelled case set ``name``."""
    ws = Workspace.create(root)
    records = read_source(phantom / "manifest.csv").records
    version = import_dataset(ws, TASK, records).version_id
    with ws.connect() as conn:
        test = {c["case_id"] for c in case_set_members(conn, f"{version}-test")}
    files = root.parent / f"{root.name}-files"
    new = [_new_case(r, files, shift) for r in records if r.case_id in test]
    case_set = import_case_set(ws, TASK, new, name)["id"]
    labels = {r.case_id: r.label for r in records}
    for model in MODELS:
        folder = files / model.split(":")[1]
        folder.mkdir(parents=True, exist_ok=True)
        for record in records:
            _write_prediction(folder / f"{record.case_id}.nii.gz", record.label, rough=False)
        for i, record in enumerate(sorted(new, key=lambda r: r.case_id)):
            source = labels[record.case_id.removeprefix("new-")]
            rough = model == MODELS[1] and i < DISAGREE
            _write_prediction(folder / f"{record.case_id}.nii.gz", source, rough=rough)
        for which in ("test", case_set):
            evaluate_external(ws, folder, model.split(":")[1], which, task=TASK, spec=SPEC,
                              overlays=False)
    return ws, case_set


def _new_case(record: CaseRecord, folder: Path, shift: bool) -> CaseRecord:
    image = read_image(record.images[0])
    array = image.array * GAIN + OFFSET if shift else image.array
    path = folder / "images" / f"new-{record.case_id}.nii.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_image(dataclasses.replace(image, array=array.astype(np.float32)), path)
    return CaseRecord(case_id=f"new-{record.case_id}", images=(str(path),), site=record.site,
                      patient_id=f"new-{record.patient_id}")


def _write_prediction(path: Path, label_file: str, *, rough: bool) -> None:
    label = read_image(label_file, kind="label")
    array = np.where(label.array == 1, 1, 0).astype(label.array.dtype) if rough else label.array
    write_image(Image(array, label.spacing, label.origin, label.direction), path)
