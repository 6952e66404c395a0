"""The case viewer: which layers a case has (:func:`viewer_of`) and the stored file behind each
volume the viewer loads (:func:`volume_file`).

The page lists layers without opening an image: the task says 2D or 3D and names the classes,
the store says which files exist. Only a landmarks task's point files, a few bytes each, are
read for the page. Every file is looked up through the store (the case's row, the model's
prediction row) and must lie inside the workspace: a request names a case, a layer and a model,
never a path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa

from medselect.dashboard import queries
from medselect.dashboard.context import Dashboard
from medselect.dashboard.files import workspace_entry
from medselect.dashboard.schemas import Points, Viewer, ViewerClass, ViewerModel
from medselect.data.loading import read_landmarks
from medselect.data.readers import IMAGE_SUFFIXES, ImageKind, image_suffix
from medselect.errors import DataError, NotFound
from medselect.store import case_in_set, get_task, predictions_of_case, task_family

VolumeName = Literal["image.nii", "label.nii.gz", "prediction.nii.gz"]
"""The volumes of a case the viewer loads: its image (one channel), its reference label map
and one model's predicted label map."""


def viewer_of(dash: Dashboard, conn: sa.Connection, scope: queries.Scope, case_id: str,
              predictions: Mapping[str, Mapping[str, Any]], models: Sequence[str]) -> Viewer:
    """The viewer's layers of ``case_id``: ``predictions`` are the prediction rows by model,
    ``models`` the page's order.

    Raises:
        NotFound: the case is not in the scope's case set.
    """
    task = get_task(conn, scope.task)
    config = task["config"] or {}
    family = task_family(task)
    row = case_in_set(conn, scope.id, case_id)
    root = dash.workspace.root
    segmentation = family == "segmentation"
    landmarks = family == "landmarks"
    entries = []
    for model in models:
        uri = predictions.get(model, {}).get("prediction_uri")
        ok = predictions.get(model, {}).get("status") == "ok" and uri is not None
        entries.append(ViewerModel(
            model=model, labels=ok and segmentation and _is_image(uri) and _exists(root, uri),
            points=_points(root, uri, case_id) if ok and landmarks else None))
    return Viewer(
        ndim=3 if config.get("spatial_dims") == 3 else 2,
        image=all(_exists(root, uri) for uri in row["image_uris"]),
        channels=len(row["image_uris"]),
        reference=segmentation and _exists(root, row["label_uri"]),
        classes=[ViewerClass(value=i, name=name)
                 for i, name in enumerate(config.get("classes", [])) if i and segmentation],
        reference_points=(_points(dash.workspace.root, row["landmarks_uri"], case_id)
                          if landmarks else None),
        models=entries,
    )


def volume_file(dash: Dashboard, conn: sa.Connection, case_id: str, name: VolumeName, *,
                case_set: str | None = None, model: str | None = None,
                channel: int = 0) -> tuple[Path, ImageKind]:
    """The stored file (or DICOM series folder) of one volume of ``case_id``, and how to read
    it: ``image.nii`` is image channel ``channel``, ``label.nii.gz`` the reference label map,
    ``prediction.nii.gz`` the label map ``model`` predicted (its newest finished evaluation on
    ``case_set``, by default the case set the pages open on).

    Raises:
        NotFound: the case is not in the case set, the channel, reference or model is unknown,
            the model has no label map for the case (it failed, or predicts points or
            classes), or the file is missing or outside the workspace.
    """
    scope = queries.scope_of(dash, conn, case_set)
    row = case_in_set(conn, scope.id, case_id)
    if name == "image.nii":
        if not 0 <= channel < len(row["image_uris"]):
            raise NotFound(f"case {case_id!r} has {len(row['image_uris'])} image channel(s), "
                           f"not channel {channel}")
        uri, kind = row["image_uris"][channel], "image"
    elif name == "label.nii.gz":
        uri, kind = row["label_uri"], "label"
        if uri is None:
            raise NotFound(f"case {case_id!r} has no reference label map")
    else:
        uri, kind = _predicted_labels(conn, scope, case_id, model), "label"
    return workspace_entry(dash.workspace.root, uri), kind


def _predicted_labels(conn: sa.Connection, scope: queries.Scope, case_id: str,
                      model: str | None) -> str:
    if model is None:
        raise NotFound("prediction.nii.gz needs the model: add ?model=<model ref>")
    evaluation = queries.evaluation_of(scope, model)
    row = predictions_of_case(conn, case_id, [evaluation["id"]]).get(evaluation["id"])
    uri = row and row["status"] == "ok" and row["prediction_uri"]
    if not uri or not _is_image(uri):
        raise NotFound(f"model {model!r} has no predicted label map for case {case_id!r} in "
                       f"case set {scope.id!r}")
    return uri


def _is_image(uri: str) -> bool:
    return image_suffix(uri) in IMAGE_SUFFIXES


def _exists(root: Path, uri: str | None) -> bool:
    """Whether ``uri`` names a file or folder inside the workspace (the page offers no layer
    whose volume would answer 404)."""
    if uri is None:
        return False
    try:
        workspace_entry(root, uri)
    except NotFound:
        return False
    return True


def _points(root: Path, uri: str | None, case_id: str) -> Points | None:
    """The landmarks file ``uri`` as name -> voxel coordinates; None when there is none or it
    cannot be read (the page then shows no points rather than failing)."""
    if uri is None:
        return None
    try:
        points = read_landmarks(workspace_entry(root, uri), case_id)
    except (NotFound, DataError):
        return None
    return {name: list(xyz) for name, xyz in points.items()}
