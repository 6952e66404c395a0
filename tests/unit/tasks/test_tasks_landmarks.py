"""Landmark heatmaps: targets on the input grid, sub-pixel decoding, losses, validation MRE."""

from __future__ import annotations

import pytest
import torch

from medselect.errors import ConfigError, DataError
from medselect.tasks import LandmarksPlugin, LandmarkTarget, TaskInfo
from medselect.tasks.heatmaps import gaussian_heatmaps, heatmap_centroids

TASK = TaskInfo("landmarks", landmarks=("a", "b"))
POINTS = {"a": (3.0, 5.0), "b": (10.3, 12.7)}


def test_targets_move_with_the_whole_image_resize():
    # pixel 3 of 8 -> (3 + 0.5) * 16 / 8 - 0.5 = 6.5 on a 16-pixel input axis
    maps = LandmarksPlugin(sigma=1.0).prepare_resized_target(
        {"a": (3.0, 5.0), "b": (1.0, 1.0)}, TASK, (8, 8), (16, 16))
    assert maps.shape == (2, 16, 16) and maps.max() <= 1.0
    centres, valid = heatmap_centroids(maps[None])
    assert valid.all()
    assert torch.allclose(centres[0, 0], torch.tensor([6.5, 10.5]), atol=1e-3)


def test_a_missing_landmark_is_named():
    with pytest.raises(DataError, match=r"landmarks \['b'\] of the task are missing"):
        LandmarksPlugin().prepare_target(LandmarkTarget({"a": (1.0, 1.0)}, (8, 8)), TASK)


def test_bare_points_without_an_image_size_are_refused():
    with pytest.raises(DataError, match="need the image size"):
        LandmarksPlugin().prepare_target(POINTS, TASK)


def test_soft_argmax_decoding_is_sub_pixel_and_argmax_is_whole_pixels():
    maps = gaussian_heatmaps(torch.tensor([[10.3, 12.7]]), (24, 24), 2.0)[None]
    refined = LandmarksPlugin(sigma=2.0).decode(maps)[0, 0]
    assert refined == pytest.approx([10.3, 12.7], abs=0.02)
    assert LandmarksPlugin(decoding="argmax").decode(maps)[0, 0].tolist() == [10.0, 13.0]


def test_losses_are_lowest_for_the_truth():
    plugin = LandmarksPlugin(sigma=1.0)
    target = plugin.prepare_target(LandmarkTarget(POINTS, (16, 16)), TASK)[None]
    wrong = plugin.prepare_target(
        LandmarkTarget({"a": (12.0, 2.0), "b": (2.0, 2.0)}, (16, 16)), TASK)[None]
    assert plugin.build_loss("mse", TASK)(target, target) == 0
    soft = plugin.build_loss("soft_argmax", TASK)
    assert soft(50 * target, target) < 0.5 < soft(50 * wrong, target)


def test_validation_mre_is_in_input_pixels():
    plugin = LandmarksPlugin(sigma=1.0)
    target = plugin.prepare_target(LandmarkTarget(POINTS, (24, 24)), TASK)[None]
    shifted = plugin.prepare_target(
        LandmarkTarget({"a": (3.0, 9.0), "b": (10.3, 17.7)}, (24, 24)), TASK)[None]
    assert plugin.validation_metrics(target, target)["val_mre"] == pytest.approx(0, abs=0.02)
    assert plugin.validation_metrics(shifted, target)["val_mre"] == pytest.approx(4.5, abs=0.05)


def test_bad_settings_are_refused():
    with pytest.raises(ConfigError, match="sigma"):
        LandmarksPlugin(sigma=0)
    with pytest.raises(ConfigError, match=r"task\.landmarks"):
        LandmarksPlugin().out_channels(TaskInfo("landmarks"))
    with pytest.raises(ConfigError, match="loss: landmarks tasks take one of mse, soft_argmax"):
        LandmarksPlugin().build_loss("dice", TASK)
