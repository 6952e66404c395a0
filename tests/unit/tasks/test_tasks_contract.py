"""The shared contract: every registered task plugin goes through the same checks.

A third-party plugin registered through the ``medselect.tasks`` entry point is picked up here
too, so it is held to what the training loop relies on.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from medselect.config.choices import Loss, TaskKind
from medselect.config.run import RunConfig
from medselect.errors import ConfigError
from medselect.tasks import TaskInfo, TaskPlugin, available_task_kinds, get_task_plugin
from medselect.train import TrainingData, train_model

KINDS = available_task_kinds()
SIZE = (16, 16)


def example_task(kind: str) -> TaskInfo:
    return TaskInfo(kind, spatial_dims=2, in_channels=1, classes=("background", "a", "b"),
                    landmarks=("p1", "p2"))


def logits_shape(plugin: TaskPlugin, n: int, channels: int) -> tuple[int, ...]:
    """What the plugin's networks output: one vector per image, or a map."""
    return (n, channels) if plugin.image_level else (n, channels, *SIZE)


def batch(plugin: TaskPlugin, task: TaskInfo, n: int = 2) -> torch.Tensor:
    targets = [plugin.prepare_target(plugin.example_target(task, SIZE, seed), task)
               for seed in range(n)]
    return torch.stack(targets)


@pytest.fixture(params=KINDS)
def kind(request) -> str:
    return request.param


def test_segmentation_is_registered():
    assert "segmentation" in KINDS


def test_declarations(kind):
    plugin = get_task_plugin(kind)
    assert isinstance(plugin, TaskPlugin) and plugin.kind == kind
    assert plugin.family in {k.value for k in TaskKind}
    assert plugin.losses and set(plugin.losses) <= {loss.value for loss in Loss}
    assert plugin.metrics and set(plugin.metrics.values()) <= {"max", "min"}
    assert plugin.primary_metric.name in plugin.metrics
    assert plugin.primary_metric.mode == plugin.metrics[plugin.primary_metric.name]
    assert plugin.target_mode in ("nearest", "bilinear", None)
    assert isinstance(plugin.target_attribute, str)


def test_out_channels_is_a_positive_count(kind):
    plugin = get_task_plugin(kind)
    channels = plugin.out_channels(example_task(kind))
    assert isinstance(channels, int) and channels >= 1


def test_every_loss_is_finite_and_differentiable_on_prepared_targets(kind):
    plugin = get_task_plugin(kind)
    task = example_task(kind)
    targets = batch(plugin, task)
    channels = plugin.out_channels(task)
    for name in plugin.losses:
        logits = torch.randn(*logits_shape(plugin, 2, channels), requires_grad=True)
        value = plugin.build_loss(name, task)(logits, targets)
        value.backward()
        assert value.ndim == 0 and torch.isfinite(value), name
        assert logits.grad is not None and torch.isfinite(logits.grad).all(), name


def test_an_unsupported_loss_names_the_field(kind):
    with pytest.raises(ConfigError, match="loss"):
        get_task_plugin(kind).build_loss("no-such-loss", example_task(kind))


def test_decode_gives_one_prediction_per_batch_item(kind):
    plugin = get_task_plugin(kind)
    logits = torch.randn(*logits_shape(plugin, 3, plugin.out_channels(example_task(kind))))
    decoded = plugin.decode(logits)
    assert isinstance(decoded, np.ndarray) and len(decoded) == 3


def test_an_ensemble_of_identical_members_predicts_what_one_member_does(kind):
    plugin = get_task_plugin(kind)
    logits = torch.randn(*logits_shape(plugin, 2, plugin.out_channels(example_task(kind))))
    averaged = plugin.average_outputs([logits, logits.clone()])
    assert averaged.shape == logits.shape and torch.isfinite(averaged).all()
    np.testing.assert_allclose(plugin.decode(averaged), plugin.decode(logits), atol=1e-4)


def test_validation_metrics_report_every_declared_metric_as_float(kind):
    plugin = get_task_plugin(kind)
    task = example_task(kind)
    logits = torch.randn(*logits_shape(plugin, 2, plugin.out_channels(task)))
    values = plugin.validation_metrics(logits, batch(plugin, task))
    assert set(values) == set(plugin.metrics)
    assert all(isinstance(v, float) and not math.isinf(v) for v in values.values())


def test_the_training_loop_trains_the_plugin_for_one_epoch(kind, tmp_path):
    plugin = get_task_plugin(kind)
    task = example_task(kind)
    rng = np.random.default_rng(0)
    images = [rng.normal(size=(1, *SIZE)).astype(np.float32) for _ in range(4)]
    targets = [plugin.example_target(task, SIZE, seed) for seed in range(4)]
    data = TrainingData(images, targets)
    architecture = "resnet18" if plugin.image_level else "unet"
    config = RunConfig(input_size=SIZE, depth=2, features=4, epochs=1, batch_size=2,
                       loss=plugin.losses[0], architecture=architecture)
    records = []
    result = train_model(config, plugin, task, data, data, out_dir=tmp_path,
                         on_epoch=records.append, device="cpu")
    assert len(records) == 1 and result.metric == plugin.primary_metric.name
    assert set(plugin.metrics) <= set(records[0].metrics())
    assert result.best_checkpoint.exists()
