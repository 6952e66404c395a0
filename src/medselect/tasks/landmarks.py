"""Landmark detection by heatmap regression: one output channel per landmark.

A case's points (voxel index coordinates, ``LoadedCase.landmarks``) become Gaussian maps drawn
directly on the network's input grid: the points move as the whole-image resize of
:mod:`medselect.train.dataset` moves pixels (``align_corners=False``: the centre of pixel ``i``
of ``n`` lands at ``(i + 0.5) * m / n - 0.5`` of ``m``), and ``sigma`` is in input pixels.
Geometric augmentation then moves the maps with the image (``target_mode = "bilinear"``).
A landmark a case lacks (absent from its file, or NaN) gets a map of NaN, which augmentation
keeps NaN and the losses leave out: the case still teaches its other landmarks.

``sigma`` and the decoding come from the run's ``heatmap_sigma`` and ``decoding`` fields
(:meth:`LandmarksPlugin.from_run`), so they are recorded, swept and reproduced with the run.

``val_mre`` is the mean radial error in **input pixels** (training sees no spacing); the
per-case errors in mm that rank models come from ``medselect.evaluate``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from medselect.config.choices import Loss, TaskKind
from medselect.config.run import HeatmapDecoding, RunConfig
from medselect.errors import ConfigError, DataError
from medselect.tasks.base import MetricGoal, Mode, TaskLike, TaskPlugin, log_of_mean
from medselect.tasks.heatmaps import (
    HeatmapMSELoss,
    SoftArgmaxLoss,
    decode_points,
    gaussian_heatmaps,
    heatmap_centroids,
    soft_argmax,
)

DEFAULT_SIGMA = 2.0
DEFAULT_DECODING: HeatmapDecoding = "soft_argmax"
_LOSSES: dict[Loss, type[torch.nn.Module]] = {
    Loss.MSE: HeatmapMSELoss,
    Loss.SOFT_ARGMAX: SoftArgmaxLoss,
}


@dataclass(frozen=True)
class LandmarkTarget:
    """A case's points with the size of the image they index.

    Args:
        points: ``name -> (x, y[, z])`` voxel index coordinates.
        image_size: the image's spatial shape.
    """

    points: Mapping[str, Sequence[float]]
    image_size: tuple[int, ...]


class LandmarksPlugin(TaskPlugin):
    """Points in, one heatmap per landmark out, mean radial error as the validation signal.

    Args:
        sigma: standard deviation of the target Gaussians, in input pixels (the run's
            ``heatmap_sigma``).
        decoding: ``argmax`` (whole pixels) or ``soft_argmax`` (sub-pixel): for a model
            trained on heatmaps (``mse``) the argmax refined by a local soft-argmax; for one
            trained through a soft-argmax (``soft_argmax`` loss) the spatial-softmax
            expectation that loss trained, as its logits are not heatmaps.
        loss: the loss the model is trained with, which says what its output maps are.

    Raises:
        ConfigError: naming ``heatmap_sigma``, ``decoding`` or ``loss`` when one is not valid.
    """

    kind = family = TaskKind.LANDMARKS.value
    losses = tuple(loss.value for loss in _LOSSES)
    metrics: ClassVar[Mapping[str, Mode]] = {"val_mre": "min"}
    primary_metric = MetricGoal("val_mre", "min")
    target_mode = "bilinear"
    target_attribute = "landmarks"

    def __init__(self, sigma: float = DEFAULT_SIGMA,
                 decoding: HeatmapDecoding = DEFAULT_DECODING, loss: Loss | str = Loss.MSE,
                 input_size: Sequence[int] | None = None) -> None:
        if not (isinstance(sigma, int | float) and math.isfinite(sigma) and sigma > 0):
            raise ConfigError(f"heatmap_sigma: the landmark heatmaps' sigma must be a positive "
                              f"number of input pixels, got {sigma!r}")
        if decoding not in ("argmax", "soft_argmax"):
            raise ConfigError(
                f"decoding: landmark decoding must be 'argmax' or 'soft_argmax', got {decoding!r}"
            )
        self.sigma = float(sigma)
        self.decoding = decoding
        self.loss = Loss(self.check_loss(loss))
        self.input_size = None if input_size is None else tuple(int(n) for n in input_size)

    @classmethod
    def from_run(cls, config: RunConfig) -> LandmarksPlugin:
        """The plugin for a run: its ``heatmap_sigma``, ``decoding`` (defaults where unset) and
        ``loss``."""
        return cls(sigma=DEFAULT_SIGMA if config.heatmap_sigma is None else config.heatmap_sigma,
                   decoding=config.decoding or DEFAULT_DECODING, loss=config.loss,
                   input_size=config.input_size)

    def out_channels(self, task: TaskLike) -> int:
        names = list(getattr(task, "landmarks", ()))
        if not names:
            raise ConfigError(
                "task.landmarks: a landmarks task needs the names of its points; list them"
            )
        return len(names)

    def build_loss(self, name: str, task: TaskLike) -> torch.nn.Module:
        return _LOSSES[Loss(self.check_loss(name))]()

    def prepare_target(self, target: Any, task: TaskLike) -> torch.Tensor:
        """Gaussian maps ``(L, *image size)`` of a :class:`LandmarkTarget` at its own size.

        Raises:
            DataError: the target is not a LandmarkTarget, or has none of the task's landmarks.
        """
        if not isinstance(target, LandmarkTarget):
            raise DataError(
                f"landmark targets need the image size; got {type(target).__name__}, give a "
                "LandmarkTarget(points, image_size)"
            )
        size = target.image_size
        return self.prepare_resized_target(target.points, task, size, size)

    def prepare_resized_target(
        self, target: Any, task: TaskLike, image_size: Sequence[int], input_size: Sequence[int]
    ) -> torch.Tensor:
        """Gaussian maps ``(L, *input_size)`` of the case's points moved onto the input grid;
        the map of a landmark the case lacks is all NaN (the losses leave it out).

        Raises:
            DataError: the case has none of the task's landmarks, or one has the wrong number
                of axes.
        """
        points = target.points if isinstance(target, LandmarkTarget) else target
        array = self._points(points, task)
        scale = torch.tensor([m / n for m, n in zip(input_size, image_size, strict=True)])
        moved = (torch.as_tensor(array, dtype=torch.float32) + 0.5) * scale - 0.5
        return gaussian_heatmaps(moved, tuple(input_size), self.sigma)

    def decode(self, logits: torch.Tensor) -> np.ndarray:
        """``(B, L, *spatial)`` maps -> ``(B, L, D)`` points in pixel index coordinates (maps at
        the input size, or resized to an image's size: the refinement window follows)."""
        if self.decoding == "soft_argmax" and self.loss is Loss.SOFT_ARGMAX:
            points = soft_argmax(logits.detach())
        else:
            points = decode_points(logits, refine=self.decoding == "soft_argmax",
                                   radius=self._refine_radius(logits.shape[2:]))
        return points.cpu().numpy().astype(np.float64)

    def average_outputs(self, outputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """The mean heatmap per landmark; for a model trained through a soft-argmax, whose
        logits are not heatmaps, the log of the mean spatial softmax (the maps its decoding
        reads)."""
        if self.loss is Loss.SOFT_ARGMAX:
            return log_of_mean([torch.softmax(o.float().flatten(2), dim=2).reshape(o.shape)
                                for o in outputs])
        return torch.stack([o.float() for o in outputs]).mean(dim=0)

    def _refine_radius(self, size: Sequence[int]) -> list[int]:
        """3 sigma per axis, in the pixels of maps of ``size``: sigma is in input pixels, and
        evaluation decodes maps resized back to the image's own size."""
        scale = [1.0] * len(size) if self.input_size is None else [
            n / m for n, m in zip(size, self.input_size, strict=True)]
        return [math.ceil(3 * self.sigma * f) for f in scale]

    def validation_metrics(self, logits: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
        """``val_mre``: mean distance (input pixels) of decoded points to the targets' centres.

        NaN when no target point lies in the images (all moved out by augmentation).
        """
        reference, valid = heatmap_centroids(target.float())
        predicted = torch.as_tensor(self.decode(logits), dtype=torch.float32)
        errors = torch.linalg.vector_norm(predicted - reference.cpu(), dim=2)[valid.cpu()]
        return {"val_mre": float(errors.mean()) if errors.numel() else float("nan")}

    def example_target(self, task: TaskLike, spatial_size: Sequence[int], seed: int) -> Any:
        """Random points away from the border, one per landmark of ``task``."""
        rng = np.random.default_rng(seed)
        names = list(task.landmarks)
        points = {name: tuple(float(rng.uniform(2, n - 3)) for n in spatial_size)
                  for name in names}
        return LandmarkTarget(points, tuple(int(n) for n in spatial_size))

    def _points(self, points: Any, task: TaskLike) -> np.ndarray:
        """``(L, D)`` points in the task's order; a landmark the case lacks is a row of NaN."""
        if not isinstance(points, Mapping):
            raise DataError(
                f"landmarks must map each name to (x, y[, z]) voxel coordinates, got "
                f"{type(points).__name__}"
            )
        names, dims = list(task.landmarks), task.spatial_dims
        rows = {name: np.full(dims, np.nan) if points.get(name) is None
                else np.asarray(points[name], dtype=np.float64).ravel() for name in names}
        wrong = {name: row.size for name, row in rows.items() if row.size != dims}
        if wrong:
            raise DataError(
                f"landmarks {sorted(wrong)} have {sorted(set(wrong.values()))} coordinates but "
                f"the task is {dims}D; give (x, y{', z' if dims == 3 else ''}) voxel coordinates"
            )
        array = np.stack(list(rows.values()))
        array[np.isnan(array).any(axis=1)] = np.nan
        if np.isnan(array).all():
            raise DataError(
                f"the case has none of the task's landmarks {names} (it has {sorted(points)}); "
                "name its points as task.landmarks does"
            )
        return array
