"""A fold ensemble predicts the mean of its members' softmax, heatmaps or probabilities."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from train_data import TASK, discs, tiny_config

from medselect.config.choices import Loss
from medselect.errors import ConfigError
from medselect.tasks import ClassificationPlugin, LandmarksPlugin, SegmentationPlugin
from medselect.tasks.heatmaps import soft_argmax
from medselect.train import EnsembleNetwork, load_ensemble, load_model, predict, train_model


class Fixed(torch.nn.Module):
    """Returns the same output for any input of the batch size (a member with known logits)."""

    def __init__(self, output: torch.Tensor):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(()))  # something for .parameters()
        self.output = output

    def forward(self, x):
        return self.output[: len(x)] + 0 * self.weight


def _members(shape, n=3, seed=0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [3 * torch.randn(*shape, generator=generator) for _ in range(n)]


def test_segmentation_predicts_the_argmax_of_the_mean_softmax():
    plugin = SegmentationPlugin()
    outputs = _members((2, 4, 8, 8))
    ensemble = EnsembleNetwork([Fixed(o) for o in outputs], plugin.average_outputs)
    combined = ensemble(torch.zeros(2, 1, 8, 8))
    mean = torch.stack([torch.softmax(o, dim=1) for o in outputs]).mean(0)
    torch.testing.assert_close(torch.softmax(combined, dim=1), mean)
    np.testing.assert_array_equal(plugin.decode(combined), mean.argmax(dim=1).numpy())
    # not the majority vote, nor the argmax of the mean logits, in general
    assert not np.array_equal(plugin.decode(combined),
                              torch.stack(outputs).mean(0).argmax(dim=1).numpy())


def test_classification_probabilities_are_the_mean_of_the_members():
    plugin = ClassificationPlugin()
    outputs = _members((5, 3))
    with torch.no_grad():
        combined = EnsembleNetwork([Fixed(o) for o in outputs], plugin.average_outputs)(
            torch.zeros(5, 1, 8, 8))
    expected = np.mean([plugin.decode(o) for o in outputs], axis=0)
    np.testing.assert_allclose(plugin.decode(combined), expected, atol=1e-6)
    np.testing.assert_allclose(plugin.decode(combined).sum(axis=1), 1.0, atol=1e-6)


def test_landmarks_average_heatmaps_or_the_soft_argmax_distributions():
    heatmaps = [torch.rand(1, 2, 16, 16) for _ in range(3)]
    mse = LandmarksPlugin(loss=Loss.MSE)
    torch.testing.assert_close(mse.average_outputs(heatmaps), torch.stack(heatmaps).mean(0))
    soft = LandmarksPlugin(loss=Loss.SOFT_ARGMAX)
    logits = _members((1, 2, 16, 16))
    combined = soft.average_outputs(logits)
    spatial = [torch.softmax(o.flatten(2), dim=2) for o in logits]
    torch.testing.assert_close(torch.softmax(combined.flatten(2), dim=2),
                               torch.stack(spatial).mean(0))
    # the expected point of the mean distribution is the mean of the members' expected points
    torch.testing.assert_close(soft_argmax(combined),
                               torch.stack([soft_argmax(o) for o in logits]).mean(0))


def test_an_ensemble_loads_its_members_checkpoints_and_predicts_like_their_mean(tmp_path):
    plugin = SegmentationPlugin()
    configs = [tiny_config(epochs=1, seed=s) for s in (0, 1)]
    paths = []
    for i, config in enumerate(configs):
        train_model(config, plugin, TASK, discs(4, seed=i), discs(2, seed=9),
                    out_dir=tmp_path / f"m{i}", device="cpu")
        paths.append(tmp_path / f"m{i}" / "best.pt")
    ensemble = load_ensemble(list(zip(paths, configs, strict=True)), plugin, TASK, device="cpu")
    assert not ensemble.training and len(ensemble.members) == 2
    members = [load_model(p, c, plugin, TASK, device="cpu") for p, c in zip(paths, configs,
                                                                              strict=True)]
    x = torch.randn(3, 1, 32, 32)
    with torch.no_grad():
        mean = torch.stack([torch.softmax(m(x), dim=1) for m in members]).mean(0)
        torch.testing.assert_close(torch.softmax(ensemble(x), dim=1), mean)
    images = discs(2, size=40, seed=3).images
    (label, _) = predict(ensemble, images, configs[0], plugin)
    assert label.shape == (40, 40)


def test_an_ensemble_needs_a_member():
    with pytest.raises(ConfigError, match="at least one member"):
        EnsembleNetwork([], SegmentationPlugin().average_outputs)
