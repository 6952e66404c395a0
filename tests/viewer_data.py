"""Real workspaces for the case viewer's tests, benchmark and screenshot.

The knee phantom (:mod:`medselect.data.phantom`) imported as a dataset, and one external model
whose predictions are each test case's reference label map moved a few voxels, evaluated by
``evaluate_external``: every file the viewer loads (image, label map, predicted label map) and
every static overlay is written by the product's own code, as for a user's data. A landmarks
task has no external-model import, so its model's points are written as an evaluation writes
them (one JSON file per case) and stored directly.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from medselect.config import EvaluationSpec, TaskSpec
from medselect.data.image import Image
from medselect.data.importer import import_dataset
from medselect.data.phantom import (
    DEFAULT_SITES,
    KNEE_CLASSES,
    KNEE_LANDMARKS,
    synth_knee_dataset,
)
from medselect.data.readers import read_image
from medselect.data.writers import write_image
from medselect.evaluate import evaluate_external
from medselect.metrics import MEAN_LABEL
from medselect.store import (
    Workspace,
    case_set_members,
    put_evaluation,
    put_external_model,
    replace_case_metrics,
    replace_predictions,
)

MODEL_NAME = "shifted"
MODEL = f"external:{MODEL_NAME}"
SHIFT = 3
"""Voxels the prediction is moved along x: far enough to see red apart from green."""


def build_viewer_workspace(root: Path, *, spatial_dims: int = 3, size: int = 32,
                           cases_per_site: int = 3, overlays: bool = True) -> Workspace:
    """Import a ``size`` phantom (3D: ``size`` x ``size`` x ``size // 2``) into a workspace at
    ``root``, evaluate the shifted model on its test cases and return the workspace open."""
    data = root.parent / f"{root.name}-phantom"
    records = synth_knee_dataset(data, cases_per_site=cases_per_site, size=size,
                                 spatial_dims=spatial_dims, sites=DEFAULT_SITES[:2], seed=1)
    task = TaskSpec(name="knee-viewer", kind="segmentation", spatial_dims=spatial_dims,
                    classes=list(KNEE_CLASSES))
    ws = Workspace.create(root)
    version = import_dataset(ws, task, records).version_id
    predictions = root.parent / f"{root.name}-predictions"
    predictions.mkdir(exist_ok=True)
    with ws.connect() as conn:
        cases = case_set_members(conn, f"{version}-test")
    for case in cases:
        label = read_image(ws.path(case["label_uri"]), kind="label")
        moved = np.roll(label.array, SHIFT, axis=0)
        write_image(Image(moved, label.spacing, label.origin, label.direction),
                    predictions / f"{case['case_id']}.nii.gz")
    evaluate_external(ws, predictions, MODEL_NAME, "test", task=task.name,
                      spec=EvaluationSpec(metrics=["dice"]), overlays=overlays)
    return ws


def build_landmarks_workspace(root: Path, *, size: int = 96) -> Workspace:
    """A 2D landmarks task on the phantom and model ``MODEL`` whose points are each test case's
    reference points moved by (+4, +2) voxels; return the workspace open."""
    records = synth_knee_dataset(root.parent / f"{root.name}-phantom", cases_per_site=3,
                                 size=size, sites=DEFAULT_SITES[:2], seed=1)
    task = TaskSpec(name="knee-points", kind="landmarks", landmarks=list(KNEE_LANDMARKS))
    ws = Workspace.create(root)
    version = import_dataset(ws, task, records).version_id
    case_set = f"{version}-test"
    evaluation = "ev-points"
    with ws.connect() as conn:
        cases = case_set_members(conn, case_set)
    predictions = []
    for case in cases:
        points = json.loads(ws.path(case["landmarks_uri"]).read_text())
        uri = f"evaluations/{evaluation}/predictions/{case['case_id']}.json"
        ws.path(uri).parent.mkdir(parents=True, exist_ok=True)
        ws.path(uri).write_text(json.dumps({k: [x + 4, y + 2] for k, (x, y) in points.items()}))
        predictions.append({"case_id": case["case_id"], "status": "ok", "prediction_uri": uri})
    with ws.begin() as conn:
        put_external_model(conn, {"name": MODEL_NAME, "task": task.name})
        put_evaluation(conn, {"id": evaluation, "model_ref": MODEL, "case_set": case_set,
                              "dataset_version": version, "status": "finished"})
        replace_predictions(conn, evaluation, predictions)
        replace_case_metrics(conn, evaluation, [
            {"case_id": c["case_id"], "metric": "mre", "label": MEAN_LABEL,
             "value": 4.5} for c in cases])
    return ws


def evaluated_split(ws: Workspace) -> tuple[str, list[str]]:
    """The test split's case set id and its case ids (the cases the model was evaluated on)."""
    with ws.connect() as conn:
        version = conn.exec_driver_sql("select id from dataset_version").scalar_one()
        case_set = f"{version}-test"
        return case_set, [c["case_id"] for c in case_set_members(conn, case_set)]
