"""Semantic segmentation: one output channel per class, a label map per case.

Validation Dice here is the training-time signal (at the network's input size, through MONAI's
``DiceMetric``); the per-case metrics that rank models are computed by ``medselect.evaluate``
at each image's own size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from monai.metrics import DiceMetric
from monai.networks.utils import one_hot

from medselect.config.choices import TaskKind
from medselect.errors import ConfigError, DataError
from medselect.tasks.base import MetricGoal, Mode, TaskLike, TaskPlugin
from medselect.tasks.losses import LABEL_MAP_LOSSES, label_map_loss


class SegmentationPlugin(TaskPlugin):
    """Label maps in, softmax logits out, mean foreground Dice as the validation signal."""

    kind = family = TaskKind.SEGMENTATION.value
    losses = LABEL_MAP_LOSSES
    metrics: ClassVar[Mapping[str, Mode]] = {"val_dice": "max"}
    primary_metric = MetricGoal("val_dice", "max")
    target_mode = "nearest"
    target_attribute = "label"

    def out_channels(self, task: TaskLike) -> int:
        classes = list(task.classes)
        if len(classes) < 2:
            raise ConfigError(
                f"task.classes: segmentation needs background and at least one structure, "
                f"got {classes}; list the class names, background first"
            )
        return len(classes)

    def build_loss(self, name: str, task: TaskLike) -> torch.nn.Module:
        return label_map_loss(self.check_loss(name))

    def prepare_target(self, target: Any, task: TaskLike) -> torch.Tensor:
        """The label map ``(*spatial)`` as ``(1, *spatial)`` float32 holding class indices.

        float32 so MONAI's spatial transforms can resample it (nearest keeps it integral).

        Raises:
            DataError: the map has the wrong number of axes or a class the task lacks.
        """
        label = np.asarray(target)
        if label.ndim != task.spatial_dims:
            raise DataError(
                f"label has shape {label.shape} but the task is {task.spatial_dims}D; "
                "give one integer label map per case"
            )
        n_classes = self.out_channels(task)
        if label.size and (label.min() < 0 or label.max() >= n_classes):
            raise DataError(
                f"label holds values {sorted(np.unique(label).tolist())} but task.classes has "
                f"{n_classes} classes {list(task.classes)}; values must be 0..{n_classes - 1}"
            )
        return torch.as_tensor(label[None], dtype=torch.float32)

    def decode(self, logits: torch.Tensor) -> np.ndarray:
        """Argmax over channels: ``(B, C, *spatial)`` -> ``(B, *spatial)`` class indices."""
        labels = torch.argmax(logits, dim=1).cpu().numpy()
        return labels.astype(np.min_scalar_type(max(logits.shape[1] - 1, 0)))

    def validation_metrics(self, logits: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
        """``val_dice``: Dice per foreground class and case, averaged.

        A class absent from a case's label is skipped for that case (MONAI ``ignore_empty``);
        NaN when no foreground class is present in the batch at all.
        """
        n_classes = logits.shape[1]
        prediction = one_hot(torch.argmax(logits, dim=1, keepdim=True), n_classes)
        reference = one_hot(target.long(), n_classes)
        dice = DiceMetric(include_background=False, reduction="none", ignore_empty=True)
        scores = dice(prediction, reference)
        return {"val_dice": float(torch.nanmean(scores)) if scores.numel() else float("nan")}

    def example_target(self, task: TaskLike, spatial_size: Sequence[int], seed: int) -> Any:
        """Random class indices of the given size."""
        rng = np.random.default_rng(seed)
        return rng.integers(0, self.out_channels(task), size=tuple(spatial_size), dtype=np.uint8)
