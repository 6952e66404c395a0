"""Image-level classification: one logit per class and image, a class index per case.

The target is the case's class index (``LoadedCase.target``, e.g. the phantom's
cartilage-thinning grade), which resizing and augmentation leave alone (``target_mode`` None).
Networks are the image-level classifiers of :mod:`medselect.train.zoo`; they output
``(B, C)`` logits, and :meth:`ClassificationPlugin.decode` turns them into class probabilities.
``val_accuracy`` is the training-time signal; the per-case probabilities and the AUC, balanced
accuracy and calibration aggregates that rank models come from ``medselect.evaluate`` and
``medselect.rank``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from medselect.config.choices import Loss, TaskKind
from medselect.errors import ConfigError, DataError
from medselect.tasks.base import MetricGoal, Mode, TaskLike, TaskPlugin


class _CrossEntropy(torch.nn.CrossEntropyLoss):
    """Cross-entropy of ``(B, C)`` logits against ``(B,)`` class indices of any dtype."""

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return super().forward(logits, target.reshape(-1).long())


class ClassificationPlugin(TaskPlugin):
    """Class indices in, one logit per class out, accuracy as the validation signal."""

    kind = family = TaskKind.CLASSIFICATION.value
    losses = (Loss.CE.value,)
    metrics: ClassVar[Mapping[str, Mode]] = {"val_accuracy": "max"}
    primary_metric = MetricGoal("val_accuracy", "max")
    target_mode = None
    target_attribute = "target"
    image_level = True

    def out_channels(self, task: TaskLike) -> int:
        classes = list(task.classes)
        if len(classes) < 2:
            raise ConfigError(
                f"task.classes: classification needs at least two classes, got {classes}; "
                "list the class names in the order of their indices"
            )
        return len(classes)

    def build_loss(self, name: str, task: TaskLike) -> torch.nn.Module:
        self.check_loss(name)
        return _CrossEntropy()

    def prepare_target(self, target: Any, task: TaskLike) -> torch.Tensor:
        """The class index as a 0-d int64 tensor (batches stack to ``(B,)``).

        Raises:
            DataError: the target is not one integer, or not an index of ``task.classes``.
        """
        array = np.asarray(target)
        if array.size != 1 or not np.issubdtype(array.dtype, np.number) \
                or float(array.reshape(())) != int(array.reshape(())):
            raise DataError(
                f"a classification target must be one integer class index, got {target!r}"
            )
        index = int(array.reshape(()))
        n_classes = self.out_channels(task)
        if not 0 <= index < n_classes:
            raise DataError(
                f"class index {index} is not one of task.classes {list(task.classes)}; "
                f"values must be 0..{n_classes - 1}"
            )
        return torch.tensor(index, dtype=torch.int64)

    def decode(self, logits: torch.Tensor) -> np.ndarray:
        """Softmax over classes: ``(B, C)`` logits -> ``(B, C)`` float64 probabilities.

        Raises:
            DataError: the logits are not ``(B, C)`` (a dense network's map, for example).
        """
        if logits.ndim != 2:
            raise DataError(
                f"classification logits must be (batch, classes), got shape "
                f"{tuple(logits.shape)}; use an image-level architecture"
            )
        return torch.softmax(logits.float(), dim=1).cpu().numpy().astype(np.float64)

    def validation_metrics(self, logits: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
        """``val_accuracy``: the fraction of images whose most probable class is the true one."""
        predicted = torch.argmax(logits, dim=1).cpu()
        truth = target.reshape(-1).long().cpu()
        return {"val_accuracy": float((predicted == truth).float().mean())}

    def example_target(self, task: TaskLike, spatial_size: Sequence[int], seed: int) -> Any:
        """A random class index of ``task``."""
        return int(np.random.default_rng(seed).integers(0, self.out_channels(task)))
