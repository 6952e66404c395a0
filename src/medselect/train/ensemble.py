"""A fold ensemble as one network, so it is evaluated exactly like any trained model.

The ensemble of cross-validation's K fold models is a ``torch.nn.Module`` whose forward pass runs
every member on the same input and combines their outputs with the task plugin's
:meth:`~medselect.tasks.base.TaskPlugin.average_outputs` (mean softmax for segmentation and
classification, mean heatmaps for landmarks). Batched inference, resizing back, decoding,
sliding windows and saliency maps therefore need nothing of their own for ensembles.

Example::

    network = load_ensemble([(path, config) for each fold run], plugin, task, device="cpu")
    labels = predict(network, images, config, plugin)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from monai.utils import convert_to_tensor

from medselect.config.run import RunConfig
from medselect.errors import ConfigError
from medselect.train.predict import load_model

if TYPE_CHECKING:
    from medselect.tasks.base import TaskLike, TaskPlugin

Combine = Callable[[Sequence[torch.Tensor]], torch.Tensor]


class EnsembleNetwork(torch.nn.Module):
    """Members run on the same input; ``combine`` makes their outputs one.

    Args:
        members: the member networks (in eval mode for inference).
        combine: e.g. a task plugin's ``average_outputs``.

    Raises:
        ConfigError: no member.
    """

    def __init__(self, members: Sequence[torch.nn.Module], combine: Combine) -> None:
        super().__init__()
        if not members:
            raise ConfigError("an ensemble needs at least one member network")
        self.members = torch.nn.ModuleList(members)
        self.combine = combine

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.combine([convert_to_tensor(m(x), track_meta=False) for m in self.members])


def load_ensemble(
    checkpoints: Sequence[tuple[Path, RunConfig]], plugin: TaskPlugin, task: TaskLike,
    *, device: str | None = None,
) -> EnsembleNetwork:
    """The ensemble of the networks in ``checkpoints`` (each with its own configuration),
    averaged the way ``plugin`` averages, in eval mode.

    Raises:
        ConfigError: no checkpoint.
        TrainingError: a checkpoint is unreadable or does not fit its configuration (names
            the file).
    """
    members = [load_model(path, config, plugin, task, device=device)
               for path, config in checkpoints]
    return EnsembleNetwork(members, plugin.average_outputs).eval()
