"""Landmark heatmaps: targets on the input grid, sub-pixel decoding, losses, validation MRE,
settings from the run, and cases that lack a landmark."""

from __future__ import annotations

import math

import pytest
import torch

from medselect.config import RunConfig
from medselect.errors import ConfigError, DataError
from medselect.tasks import LandmarksPlugin, LandmarkTarget, TaskInfo, get_task_plugin
from medselect.tasks.heatmaps import gaussian_heatmaps, heatmap_centroids
from medselect.train import build_preset

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


def test_a_landmark_the_case_lacks_is_a_nan_map_the_others_are_drawn():
    maps = LandmarksPlugin(sigma=1.0).prepare_target(
        LandmarkTarget({"a": (3.0, 5.0), "b": (math.nan, 2.0)}, (8, 8)), TASK)
    assert maps[0].isfinite().all() and maps[0, 3, 5] == 1.0
    assert maps[1].isnan().all()
    without_b = LandmarksPlugin(sigma=1.0).prepare_target(
        LandmarkTarget({"a": (3.0, 5.0)}, (8, 8)), TASK)
    assert torch.equal(without_b.isnan(), maps.isnan())


def test_a_case_without_any_landmark_of_the_task_is_refused():
    with pytest.raises(DataError, match=r"none of the task's landmarks \['a', 'b'\] \(it has "
                                        r"\['c'\]\)"):
        LandmarksPlugin().prepare_target(LandmarkTarget({"c": (1.0, 1.0)}, (8, 8)), TASK)
    with pytest.raises(DataError, match=r"landmarks \['b'\] have \[3\] coordinates"):
        LandmarksPlugin().prepare_target(
            LandmarkTarget({"a": (1.0, 1.0), "b": (1.0, 1.0, 1.0)}, (8, 8)), TASK)


def test_bare_points_without_an_image_size_are_refused():
    with pytest.raises(DataError, match="need the image size"):
        LandmarksPlugin().prepare_target(POINTS, TASK)


def test_soft_argmax_decoding_is_sub_pixel_and_argmax_is_whole_pixels():
    maps = gaussian_heatmaps(torch.tensor([[10.3, 12.7]]), (24, 24), 2.0)[None]
    refined = LandmarksPlugin(sigma=2.0).decode(maps)[0, 0]
    assert refined == pytest.approx([10.3, 12.7], abs=0.02)
    assert LandmarksPlugin(decoding="argmax").decode(maps)[0, 0].tolist() == [10.0, 13.0]


def test_a_soft_argmax_model_decodes_to_the_expectation_it_was_trained_on():
    logits = torch.full((1, 1, 8, 8), -1e4)
    logits[0, 0, 2, 3] = logits[0, 0, 6, 3] = 0.0  # two equal peaks: the expectation between
    trained = LandmarksPlugin(loss="soft_argmax")
    assert trained.decode(logits)[0, 0].tolist() == pytest.approx([4.0, 3.0])
    assert LandmarksPlugin(decoding="argmax", loss="soft_argmax").decode(logits)[0, 0].tolist() \
        == [2.0, 3.0]
    run = RunConfig(loss="soft_argmax", decoding="soft_argmax")
    assert get_task_plugin("landmarks", run).decode(logits)[0, 0].tolist() == pytest.approx(
        [4.0, 3.0])


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


def test_missing_landmarks_add_no_loss_and_no_nan_gradient():
    plugin = LandmarksPlugin(sigma=1.0)
    full = plugin.prepare_target(LandmarkTarget(POINTS, (16, 16)), TASK)[None]
    partial = plugin.prepare_target(LandmarkTarget({"a": POINTS["a"]}, (16, 16)), TASK)[None]
    logits = torch.randn(1, 2, 16, 16, requires_grad=True)
    mse = plugin.build_loss("mse", TASK)
    # only map a counts: the loss equals the MSE of channel a alone
    only_a = ((logits[:, 0] - full[:, 0]) ** 2).mean()
    assert mse(logits, partial).item() == pytest.approx(only_a.item())
    for name in ("mse", "soft_argmax"):
        logits.grad = None
        loss = plugin.build_loss(name, TASK)(logits, partial)
        loss.backward()
        assert loss.isfinite() and logits.grad.isfinite().all()
        assert logits.grad[0, 1].abs().max() == 0  # nothing pulls the missing landmark's map
    unknown = torch.full_like(full, math.nan)
    assert mse(logits, unknown) == 0
    assert plugin.validation_metrics(full, partial)["val_mre"] == pytest.approx(0, abs=0.02)


def test_augmentation_keeps_a_missing_landmarks_map_unknown():
    plugin = LandmarksPlugin(sigma=1.5)
    label = plugin.prepare_target(LandmarkTarget({"a": (16.0, 16.0)}, (32, 32)), TASK)
    augment = build_preset("geometry", 2, label_mode="bilinear", seed=3)
    for _ in range(5):
        moved = torch.as_tensor(augment({"image": torch.zeros(1, 32, 32), "label": label})["label"])
        assert moved[0].isfinite().all() and moved[1].isnan().any()
        assert heatmap_centroids(moved[None])[1].tolist() == [[True, False]]


def test_sigma_and_decoding_come_from_the_run():
    plugin = get_task_plugin("landmarks", RunConfig(loss="mse", heatmap_sigma=3.5,
                                                    decoding="argmax"))
    assert (plugin.sigma, plugin.decoding, plugin.loss) == (3.5, "argmax", "mse")
    default = get_task_plugin("landmarks", RunConfig(loss="soft_argmax"))
    assert (default.sigma, default.decoding, default.loss) == (2.0, "soft_argmax", "soft_argmax")
    target = LandmarkTarget(POINTS, (16, 16))
    assert plugin.prepare_target(target, TASK)[0, 3, 4] == pytest.approx(
        math.exp(-1 / (2 * 3.5**2)))


@pytest.mark.parametrize("run", [{"heatmap_sigma": 2.0}, {"decoding": "argmax"}])
def test_other_kinds_refuse_landmark_fields_naming_them(run):
    field = next(iter(run))
    with pytest.raises(ConfigError, match=f"{field}: only landmarks tasks use it, not "
                                          "segmentation tasks"):
        get_task_plugin("segmentation", RunConfig(**run))
    assert get_task_plugin("segmentation", RunConfig()).kind == "segmentation"


def test_bad_settings_are_refused():
    with pytest.raises(ConfigError, match=r"heatmap_sigma: .* positive number"):
        LandmarksPlugin(sigma=0)
    with pytest.raises(ConfigError, match=r"decoding: .* got 'mean'"):
        LandmarksPlugin(decoding="mean")
    with pytest.raises(ConfigError, match="loss: landmarks tasks take one of mse, soft_argmax"):
        get_task_plugin("landmarks", RunConfig(loss="dice_ce"))
    with pytest.raises(ConfigError, match=r"task\.landmarks"):
        LandmarksPlugin().out_channels(TaskInfo("landmarks"))
    with pytest.raises(ConfigError, match="loss: landmarks tasks take one of mse, soft_argmax"):
        LandmarksPlugin().build_loss("dice", TASK)


def test_refinement_window_follows_maps_resized_to_the_image():
    # trained at 32x32 with sigma 2; evaluation decodes maps resized to the 96x64 image, where
    # the Gaussian is 6 by 4 pixels wide
    plugin = LandmarksPlugin(sigma=2.0, input_size=(32, 32))
    assert plugin._refine_radius((32, 32)) == [6, 6]
    assert plugin._refine_radius((96, 64)) == [18, 12]
    centre = torch.tensor([[40.3, 21.6]])
    maps = (torch.exp(-((torch.arange(96.)[:, None] - centre[0, 0]) / 6) ** 2 / 2
                      - ((torch.arange(64.)[None, :] - centre[0, 1]) / 4) ** 2 / 2))[None, None]
    decoded = torch.as_tensor(plugin.decode(maps))[0, 0]
    assert torch.allclose(decoded, centre[0].double(), atol=0.02)
    narrow = torch.as_tensor(LandmarksPlugin(sigma=2.0).decode(maps))[0, 0]
    assert (narrow - centre[0].double()).abs().max() > 0.02  # a 6-pixel window is biased


def test_from_run_knows_the_input_size():
    config = RunConfig(architecture="unet", loss="mse", input_size=(48, 40))
    assert LandmarksPlugin.from_run(config).input_size == (48, 40)
