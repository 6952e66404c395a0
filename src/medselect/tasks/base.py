"""The contract every task kind implements, so the training loop never names a task kind.

A task plugin answers the questions that differ between segmentation, landmarks and
classification: how many output channels the network has, which losses make sense, how a case's
target becomes a tensor, how logits become a prediction and which validation metrics to watch.
Everything else (networks, optimisers, checkpoints, the loop) is shared.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, NamedTuple, Protocol

import numpy as np
import torch

from medselect.errors import ConfigError

Mode = Literal["max", "min"]


class TaskLike(Protocol):
    """What plugins read from a task: ``medselect.config``'s task spec or a :class:`TaskInfo`."""

    kind: Any
    spatial_dims: int
    in_channels: int
    classes: Sequence[str]


@dataclass(frozen=True)
class TaskInfo:
    """A task described by plain values, for callers that hold no task spec object.

    Args:
        kind: task kind name (``segmentation``, ...).
        spatial_dims: 2 or 3.
        in_channels: image channels per case.
        classes: class names, background first (segmentation, classification).
        landmarks: landmark names (landmark tasks).
        name: the task's name, used in messages.
    """

    kind: str
    spatial_dims: int = 2
    in_channels: int = 1
    classes: tuple[str, ...] = ()
    landmarks: tuple[str, ...] = ()
    name: str = "task"

    def __post_init__(self) -> None:
        if self.spatial_dims not in (2, 3):
            raise ConfigError(
                f"task {self.name!r}: spatial_dims must be 2 or 3, got {self.spatial_dims}"
            )
        if self.in_channels < 1:
            raise ConfigError(
                f"task {self.name!r}: in_channels must be at least 1, got {self.in_channels}"
            )


def as_task_info(task: TaskLike | Mapping[str, Any]) -> TaskInfo:
    """Read a task spec, a stored task row's view or a mapping into a :class:`TaskInfo`."""
    if isinstance(task, TaskInfo):
        return task
    if isinstance(task, Mapping):
        def get(key: str, default: Any) -> Any:
            return task.get(key, default)
    else:
        def get(key: str, default: Any) -> Any:
            return getattr(task, key, default)
    return TaskInfo(
        kind=str(get("kind", "")),
        spatial_dims=int(get("spatial_dims", 2)),
        in_channels=int(get("in_channels", 1)),
        classes=tuple(str(c) for c in get("classes", ()) or ()),
        landmarks=tuple(str(name) for name in get("landmarks", ()) or ()),
        name=str(get("name", "task")),
    )


class MetricGoal(NamedTuple):
    """A metric to optimise: its name and whether higher (``max``) or lower (``min``) is better."""

    name: str
    mode: Mode


class TaskPlugin(ABC):
    """How one task kind trains; subclasses are registered under ``kind``.

    Class attributes:
        kind: the task kind this plugin serves.
        family: the built-in kind (``segmentation``, ``landmarks``, ``classification``) whose
            data, predictions, evaluation, metrics and dashboard this kind shares: a built-in
            plugin's own kind, inherited by a subclass of a built-in plugin. A task's
            ``family`` must equal it.
        losses: names of :class:`~medselect.config.choices.Loss` values it accepts.
        metrics: every validation metric :meth:`validation_metrics` returns, with its mode.
        primary_metric: the metric that picks the best epoch unless the caller names another.
        target_mode: how spatial transforms move a prepared target: ``"nearest"`` for label
            maps, ``"bilinear"`` for smooth maps (heatmaps), None for non-spatial targets
            (class indices), which resizing and geometric augmentation leave alone.
        target_attribute: the attribute of a loaded case that holds its raw target.
        image_level: the network outputs one logit vector per image ``(B, C)`` (an image-level
            classifier) rather than a map ``(B, C, *spatial)``.
    """

    kind: ClassVar[str]
    family: ClassVar[str]
    losses: ClassVar[tuple[str, ...]]
    metrics: ClassVar[Mapping[str, Mode]]
    primary_metric: ClassVar[MetricGoal]
    target_mode: ClassVar[Literal["nearest", "bilinear"] | None]
    target_attribute: ClassVar[str]
    image_level: ClassVar[bool] = False

    @abstractmethod
    def out_channels(self, task: TaskLike) -> int:
        """Number of output channels of the network for ``task``.

        Raises:
            ConfigError: the task cannot be trained by this plugin (e.g. too few classes).
        """

    @abstractmethod
    def build_loss(self, name: str, task: TaskLike) -> torch.nn.Module:
        """The loss ``name`` as a module taking ``(logits, batched prepared targets)``.

        Raises:
            ConfigError: ``name`` is not one of :attr:`losses` (the message names ``loss``).
        """

    @abstractmethod
    def prepare_target(self, target: Any, task: TaskLike) -> torch.Tensor:
        """One case's raw target (label map, landmarks, class index) as a training tensor.

        Raises:
            DataError: the target does not fit the task (shape, classes).
        """

    def prepare_resized_target(
        self, target: Any, task: TaskLike, image_size: Sequence[int], input_size: Sequence[int]
    ) -> torch.Tensor:
        """One case's target for an image of ``image_size`` resized to ``input_size``.

        The default is :meth:`prepare_target`, which the dataset then resizes per
        :attr:`target_mode`; plugins whose targets are drawn rather than resampled (landmark
        heatmaps) override it to draw them on the input grid directly.

        Raises:
            DataError: the target does not fit the task.
        """
        return self.prepare_target(target, task)

    @abstractmethod
    def decode(self, logits: torch.Tensor) -> np.ndarray:
        """A batch of logits ``(B, C, ...)`` as predictions, one per batch item."""

    def average_outputs(self, outputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Several networks' outputs for one batch as one output that :meth:`decode` turns into
        their ensemble's prediction (a fold ensemble of cross-validation).

        The default averages probabilities over channels (the softmax over dim 1: class
        probabilities per pixel or per image) and returns the log of that mean, whose softmax
        is the mean again and whose argmax is the class the mean favours.
        """
        return log_of_mean([torch.softmax(o.float(), dim=1) for o in outputs])

    @abstractmethod
    def validation_metrics(self, logits: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
        """Every metric of :attr:`metrics`, averaged over the batch (NaN when undefined)."""

    @abstractmethod
    def example_target(self, task: TaskLike, spatial_size: Sequence[int], seed: int) -> Any:
        """A valid raw target of the given image size: lets one shared test check every plugin."""

    def check_loss(self, name: str) -> str:
        """``name`` if this plugin accepts it, else a ConfigError naming the ``loss`` field."""
        name = str(name)  # a Loss member's repr would name the enum, not the value
        if name not in self.losses:
            raise ConfigError(
                f"loss: {self.kind} tasks take one of {', '.join(self.losses)}; got {name!r}"
            )
        return name


def log_of_mean(probabilities: Sequence[torch.Tensor]) -> torch.Tensor:
    """The log of the mean of ``probabilities`` (floored at the smallest positive float, so
    never -inf): an output whose softmax, over the axis the probabilities sum on, is that mean."""
    mean = torch.stack(list(probabilities)).mean(dim=0)
    return torch.log(mean.clamp_min(torch.finfo(mean.dtype).tiny))
