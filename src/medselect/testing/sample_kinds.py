"""What the sample workspace (:mod:`.sample`) stores for each task kind, as real evaluations do.

- ``segmentation`` and ``seg3d``: Dice and HD95 per class (femur, tibia) and their mean; a 3D
  case's overlay shows three slices.
- ``landmarks``: ``radial_error`` per landmark, ``mre`` and ``sdr_2mm``/``sdr_4mm`` at ``mean``;
  overlays with reference and predicted points and error lines.
- ``classification``: ``probability`` and ``correct`` at ``case`` and ``class_probability`` per
  class (the source of AUC, ECE, ...); cases carry a reference class (``target``); overlays are
  captioned with the true and predicted class.

Each model has a ``quality`` per case (about 0.9 for the best, lower for worse models and
harder cases) that the kind turns into metric values; a "stray" case of model ``run-001`` has
a gross error that some metrics feel more than others (a false-positive blob far away: poor
HD95, fine Dice; one landmark far off: MRE up by a quarter of it, SDR down by one landmark).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
from PIL import Image

from medselect.config import TaskSpec
from medselect.data.phantom import KNEE_LANDMARKS
from medselect.metrics import CASE_LABEL, MEAN_LABEL
from medselect.testing import sample_images as images

CLASSES = ("femur", "tibia")
GRADES = ("normal", "thinning")
STRAY_MM = 20.0
"""The gross error of a stray case: HD95 of a far blob, or one landmark this far off."""

Rows = list[dict]
Values = dict[tuple[str, str], float]


@dataclass(frozen=True)
class SampleCase:
    """One case of the sample: its position in the case set and, for classification, its
    reference class index."""

    case_id: str
    index: int
    target: int | None = None


@dataclass(frozen=True)
class SampleKind:
    """How the sample writes one task kind: the task, the runs' configurations and curves, the
    per-case metric rows and the overlays."""

    name: str
    task: TaskSpec
    architectures: tuple[str, ...]
    losses: tuple[str, ...]
    input_size: tuple[int, ...]
    val_metric: str
    val_value: Callable[[float, int], float]
    """(decay from 1 to 0 over the epochs, model index) -> validation metric of an epoch."""
    prediction_suffix: str
    rows: Callable[[SampleCase, float, bool, np.random.Generator], Rows]
    """(case, quality, stray, rng) -> the case's metric rows (without values of its own)."""
    slices: Callable[[SampleCase, int, bool, Values], list[Image.Image]]
    """(case, model index, stray, the case's values) -> the overlay's slices."""
    targets: bool = False

    def missing(self, rows: Rows) -> Rows:
        """The rows of a case without a prediction: the same rows, every value NaN."""
        return [{**row, "value": float("nan")} for row in rows]


def _segmentation_rows(case: SampleCase, quality: float, stray: bool,
                       rng: np.random.Generator) -> Rows:
    dice = {k: float(np.clip(quality + rng.normal(0, 0.02), 0, 1)) for k in CLASSES}
    blob = STRAY_MM if stray else 0.0
    hd95 = {k: float(max(0.0, (1 - d) * 40 + blob + rng.normal(0, 0.3)))
            for k, d in dice.items()}
    rows = []
    for metric, per_class in (("dice", dice), ("hd95", hd95)):
        rows += [_row(case, metric, k, v) for k, v in per_class.items()]
        rows.append(_row(case, metric, MEAN_LABEL, float(np.mean(list(per_class.values())))))
    return rows


def _landmark_rows(case: SampleCase, quality: float, stray: bool,
                   rng: np.random.Generator) -> Rows:
    errors = np.abs((1 - quality) * 20 + rng.normal(0, 0.8, len(KNEE_LANDMARKS)))
    if stray:
        errors[case.index % len(errors)] += STRAY_MM
    rows = [_row(case, "radial_error", name, float(e))
            for name, e in zip(KNEE_LANDMARKS, errors, strict=True)]
    rows.append(_row(case, "mre", MEAN_LABEL, float(errors.mean())))
    rows += [_row(case, f"sdr_{r}mm", MEAN_LABEL, float(100 * np.mean(errors <= r)))
             for r in (2, 4)]
    return rows


def _classification_rows(case: SampleCase, quality: float, stray: bool,
                         rng: np.random.Generator) -> Rows:
    true_p = float(np.clip(quality - 0.25 + rng.normal(0, 0.25), 0.02, 0.98))
    p = np.full(len(GRADES), (1 - true_p) / (len(GRADES) - 1))
    p[case.target] = true_p
    rows = [_row(case, "probability", CASE_LABEL, true_p),
            _row(case, "correct", CASE_LABEL, float(int(np.argmax(p)) == case.target))]
    return rows + [_row(case, "class_probability", name, float(v))
                   for name, v in zip(GRADES, p, strict=True)]


def _row(case: SampleCase, metric: str, label: str, value: float) -> dict:
    return {"case_id": case.case_id, "metric": metric, "label": label, "value": value}


def _segmentation_slices(case: SampleCase, model: int, stray: bool, values: Values, *,
                         slices: int) -> list[Image.Image]:
    return images.segmentation_slices(case.index, model, stray, slices=slices)


def _landmark_slices(case: SampleCase, model: int, stray: bool,
                     values: Values) -> list[Image.Image]:
    errors = {name: values.get(("radial_error", name), float("nan")) for name in KNEE_LANDMARKS}
    return images.landmark_slices(case.index, errors)


def _classification_slices(case: SampleCase, model: int, stray: bool,
                           values: Values) -> list[Image.Image]:
    p = [values.get(("class_probability", name), float("nan")) for name in GRADES]
    return images.classification_slices(case.index, GRADES, case.target or 0, p)


def _segmentation(name: str, spatial_dims: int) -> SampleKind:
    return SampleKind(
        name=name,
        task=TaskSpec(name="knee" if spatial_dims == 2 else "knee-3d", kind="segmentation",
                      spatial_dims=spatial_dims, classes=["background", *CLASSES]),
        architectures=("unet", "segresnet", "attention_unet", "basic_unet"),
        losses=("dice_ce", "dice", "dice_focal"),
        input_size=(32, 32) if spatial_dims == 2 else (32, 32, 16),
        val_metric="val_dice", val_value=lambda decay, i: 0.9 - 0.5 * decay - 0.02 * i,
        prediction_suffix=".png" if spatial_dims == 2 else ".nii.gz",
        rows=_segmentation_rows,
        slices=partial(_segmentation_slices,
                       slices=1 if spatial_dims == 2 else images.SEG3D_SLICES),
    )


SAMPLE_KINDS: dict[str, SampleKind] = {
    "segmentation": _segmentation("segmentation", 2),
    "seg3d": _segmentation("seg3d", 3),
    "landmarks": SampleKind(
        name="landmarks",
        task=TaskSpec(name="knee-landmarks", kind="landmarks", landmarks=list(KNEE_LANDMARKS)),
        architectures=("unet", "basic_unet"), losses=("mse", "soft_argmax"), input_size=(32, 32),
        val_metric="val_mre", val_value=lambda decay, i: 2.0 + 12 * decay + 0.4 * i,
        prediction_suffix=".json", rows=_landmark_rows, slices=_landmark_slices,
    ),
    "classification": SampleKind(
        name="classification",
        task=TaskSpec(name="knee-thinning", kind="classification", classes=list(GRADES)),
        architectures=("densenet121", "resnet18"), losses=("ce",), input_size=(32, 32),
        val_metric="val_accuracy", val_value=lambda decay, i: 0.9 - 0.4 * decay - 0.02 * i,
        prediction_suffix=".json", rows=_classification_rows, slices=_classification_slices,
        targets=True,
    ),
}
"""The sample's task kinds by name (``seg3d`` is 3D segmentation, as ``medselect demo
--task`` names it)."""
