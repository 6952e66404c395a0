"""Every loss takes logits and a label map, and is lowest for the right answer."""

from __future__ import annotations

import pytest
import torch

from medselect.errors import ConfigError
from medselect.tasks.losses import LABEL_MAP_LOSSES, label_map_loss

# A 2x2 label map with one pixel of each of 3 classes (and one more background).
LABEL = torch.tensor([[[[0.0, 1.0], [2.0, 0.0]]]])


def confident(label: torch.Tensor, n_classes: int = 3, margin: float = 8.0) -> torch.Tensor:
    """Logits that put ``margin`` on the right class of every pixel."""
    onehot = torch.nn.functional.one_hot(label[:, 0].long(), n_classes)
    return margin * onehot.movedim(-1, 1).float()


@pytest.mark.parametrize("name", LABEL_MAP_LOSSES)
def test_every_loss_runs_a_backward_step_and_prefers_the_truth(name):
    loss = label_map_loss(name)
    logits = torch.zeros(1, 3, 2, 2, requires_grad=True)
    value = loss(logits, LABEL)
    value.backward()
    assert value.ndim == 0 and torch.isfinite(value)
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    right = loss(confident(LABEL), LABEL)
    wrong = loss(confident(torch.tensor([[[[1.0, 2.0], [0.0, 1.0]]]])), LABEL)
    assert right < value < wrong


def test_names_are_resolved_case_insensitively():
    assert type(label_map_loss("DICE_CE")).__name__ == "DiceCELoss"


def test_unknown_loss_names_the_field_and_suggests():
    with pytest.raises(ConfigError, match=r"loss: unknown loss 'dice_cee'; did you mean 'dice_ce'"):
        label_map_loss("dice_cee")


def test_a_heatmap_loss_is_refused_for_label_maps():
    with pytest.raises(ConfigError, match=r"loss: 'mse' does not take a label map"):
        label_map_loss("mse")
