"""The segmentation plugin on hand-checkable 2x2 and 4x4 label maps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medselect.errors import ConfigError, DataError
from medselect.tasks import SegmentationPlugin, TaskInfo

TASK = TaskInfo("segmentation", classes=("background", "femur", "tibia"))
PLUGIN = SegmentationPlugin()


def logits_for(label: np.ndarray, n_classes: int = 3) -> torch.Tensor:
    onehot = torch.nn.functional.one_hot(torch.as_tensor(label).long(), n_classes)
    return onehot.movedim(-1, 0)[None].float()


def test_out_channels_are_the_classes_and_need_a_foreground():
    assert PLUGIN.out_channels(TASK) == 3
    with pytest.raises(ConfigError, match=r"task.classes: .* got \['background'\]"):
        PLUGIN.out_channels(TaskInfo("segmentation", classes=("background",)))


def test_prepare_target_adds_a_channel_and_checks_the_map():
    target = PLUGIN.prepare_target(np.array([[0, 1], [2, 0]], np.uint8), TASK)
    assert target.shape == (1, 2, 2) and target.dtype == torch.float32
    assert target[0, 1, 0] == 2.0
    with pytest.raises(DataError, match=r"label has shape \(2, 2, 2\) but the task is 2D"):
        PLUGIN.prepare_target(np.zeros((2, 2, 2)), TASK)
    with pytest.raises(DataError, match=r"holds values \[0, 3\] .* values must be 0..2"):
        PLUGIN.prepare_target(np.array([[0, 3]]), TASK)


def test_decode_is_the_argmax_label_map():
    label = np.array([[0, 1], [2, 2]])
    decoded = PLUGIN.decode(logits_for(label))
    assert decoded.shape == (1, 2, 2) and decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded[0], label)


def test_val_dice_is_the_mean_foreground_dice():
    truth = np.array([[0, 1, 1, 0], [0, 1, 1, 0], [2, 2, 0, 0], [0, 0, 0, 0]])
    guess = truth.copy()
    guess[0, 1] = 0  # femur: 3 of 4 pixels found -> Dice 2*3/(3+4) = 6/7
    target = torch.as_tensor(truth)[None, None].float()
    assert PLUGIN.validation_metrics(logits_for(truth), target) == {"val_dice": 1.0}
    dice = PLUGIN.validation_metrics(logits_for(guess), target)["val_dice"]
    assert dice == pytest.approx((6 / 7 + 1.0) / 2)


def test_a_class_absent_from_the_truth_is_skipped_and_all_absent_is_nan():
    truth = np.array([[0, 1], [1, 0]])  # no tibia
    target = torch.as_tensor(truth)[None, None].float()
    assert PLUGIN.validation_metrics(logits_for(truth), target) == {"val_dice": 1.0}
    empty = torch.zeros(1, 1, 2, 2)
    assert np.isnan(PLUGIN.validation_metrics(logits_for(truth), empty)["val_dice"])


def test_only_known_losses_are_built():
    assert type(PLUGIN.build_loss("tversky", TASK)).__name__ == "TverskyLoss"
    with pytest.raises(ConfigError, match="loss: segmentation tasks take one of dice, dice_ce"):
        PLUGIN.build_loss("mse", TASK)
