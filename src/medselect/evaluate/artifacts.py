"""Files of an evaluation: prediction label maps, overlays and thumbnails, per case.

Layout under the workspace (paths stored relative to it)::

    evaluations/<evaluation_id>/predictions/<case>.png      2D label map (spacing in the file)
    evaluations/<evaluation_id>/predictions/<case>.nii.gz   3D label map
    evaluations/<evaluation_id>/predictions/<case>.json     landmark points (landmarks tasks) or
                                                            class probabilities (classification)
    evaluations/<evaluation_id>/overlays/<case>.png         overlay; 3D: its two slices side by side
    evaluations/<evaluation_id>/overlays/thumbs/<case>.png  thumbnail for galleries

Every file is written atomically, so an interrupted evaluation leaves whole files or none.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image as PILImage

from medselect.data.image import Image
from medselect.data.loading import LoadedCase
from medselect.data.writers import write_image
from medselect.evaluate.overlay import render_overlay, render_volume_overlays, save_png, thumbnail
from medselect.evaluate.scoring import Points
from medselect.store import Workspace, atomic_write_text

EVALUATIONS_DIR = "evaluations"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def file_stem(case_id: str) -> str:
    """A file name for ``case_id``: itself if safe, else a cleaned name with a short digest."""
    clean = _UNSAFE.sub("_", case_id).lstrip(".") or "case"
    if clean == case_id:
        return clean
    return f"{clean}-{hashlib.sha256(case_id.encode()).hexdigest()[:8]}"


def label_image(case: LoadedCase, labels: np.ndarray) -> Image:
    """A predicted label map of ``case`` with the case's spacing, origin and direction, so it
    lies on the image in any viewer."""
    array = labels if labels.dtype.kind in "iub" else labels.astype(np.int32)
    return Image(array, spacing=tuple(case.spacing), origin=case.origin,
                 direction=case.direction)


def points_json(points: Mapping[str, Sequence[float]]) -> str:
    """Predicted landmarks as JSON ``name -> [x, y(, z)]`` voxel coordinates: the layout of a
    case's own landmark files, so a prediction can be read back as one."""
    return json.dumps({name: [float(c) for c in xyz] for name, xyz in points.items()}, indent=1)


def probabilities_json(probabilities: Sequence[float], classes: Sequence[str]) -> str:
    """Predicted class probabilities as JSON ``class -> probability``."""
    return json.dumps({name: float(p) for name, p in zip(classes, probabilities, strict=True)},
                      indent=1)


@dataclass(frozen=True)
class EvaluationFiles:
    """Where one evaluation's files go, and how they are written."""

    ws: Workspace
    evaluation_id: str

    @property
    def folder(self) -> str:
        """The evaluation's folder, relative to the workspace."""
        return f"{EVALUATIONS_DIR}/{self.evaluation_id}"

    def write_prediction(self, case: LoadedCase, labels: np.ndarray) -> str:
        """Write the label map in the case's geometry (PNG in 2D, NIfTI in 3D); return its
        uri."""
        suffix = ".png" if labels.ndim == 2 else ".nii.gz"
        rel = f"{self.folder}/predictions/{file_stem(case.case_id)}{suffix}"
        write_image(label_image(case, labels), self.ws.path(rel))
        return rel

    def write_points(self, case: LoadedCase, points: Mapping[str, Sequence[float]]) -> str:
        """Write predicted landmarks (:func:`points_json`); return its uri."""
        rel = f"{self.folder}/predictions/{file_stem(case.case_id)}.json"
        atomic_write_text(self.ws.path(rel), points_json(points))
        return rel

    def write_probabilities(self, case: LoadedCase, probabilities: Sequence[float],
                            classes: Sequence[str]) -> str:
        """Write predicted class probabilities (:func:`probabilities_json`); return its uri."""
        rel = f"{self.folder}/predictions/{file_stem(case.case_id)}.json"
        atomic_write_text(self.ws.path(rel), probabilities_json(probabilities, classes))
        return rel

    def write_overlay(
        self,
        case: LoadedCase,
        labels: np.ndarray | None,
        classes: tuple[str, ...],
        *,
        title: str,
        metrics: Mapping[str, float] | None = None,
        points: tuple[Points | None, Points | None] = (None, None),
        saliency: np.ndarray | None = None,
    ) -> tuple[str, str]:
        """Write the overlay and its thumbnail; return their uris.

        Args:
            metrics: the case's key values, shown in the margin (None for an unlabelled case).
            points: reference and predicted landmarks in mm (2D only).
            labels: the predicted label map, None for a landmarks or classification model
                (no contours are drawn then, not even the reference's).
            saliency: an image-level model's saliency map (image shape, [0, 1]), drawn as a
                translucent heat map.
        """
        image = case.image[0]
        reference = case.label if labels is not None else None
        if image.ndim == 2:
            overlay = render_overlay(image, reference=reference, prediction=labels,
                                     spacing=case.spacing, classes=classes, metrics=metrics,
                                     title=title, landmarks_ref=points[0],
                                     landmarks_pred=points[1], saliency=saliency)
            small = thumbnail(overlay)
        else:
            slices = [img for _, img in render_volume_overlays(
                image, reference, labels, case.spacing, classes, metrics=metrics, title=title,
                saliency=saliency)]
            overlay, small = _side_by_side(slices), thumbnail(slices[0])
        stem = file_stem(case.case_id)
        rel = f"{self.folder}/overlays/{stem}.png"
        thumb = f"{self.folder}/overlays/thumbs/{stem}.png"
        save_png(overlay, self.ws.path(rel))
        save_png(small, self.ws.path(thumb))
        return rel, thumb


def _side_by_side(images: list[PILImage.Image]) -> PILImage.Image:
    """The slices of a 3D case in one picture, left to right, on white."""
    if len(images) == 1:
        return images[0]
    width = sum(img.width for img in images)
    height = max(img.height for img in images)
    out = PILImage.new("RGB", (width, height), (255, 255, 255))
    left = 0
    for img in images:
        out.paste(img, (left, 0))
        left += img.width
    return out
