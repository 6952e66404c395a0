"""Inference returns results at each image's own size, by resizing or by sliding windows."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from train_data import TASK, discs, tiny_config

from medselect.errors import DataError, TrainingError
from medselect.train import load_model, predict, predict_logits, train_model


class Threshold(torch.nn.Module):
    """Logits (-x, x): predicts class 1 wherever the normalised intensity is above the mean."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor([-1.0, 1.0]).view(1, 2, 1, 1))
        self.calls: list[tuple[int, ...]] = []

    def forward(self, x):
        self.calls.append(tuple(x.shape))
        return x * self.scale


def half_bright(shape=(20, 30)) -> np.ndarray:
    image = np.zeros((1, *shape), np.float32)
    image[0, : shape[0] // 2] = 10.0
    return image


def test_predictions_come_back_at_the_image_size(plugin):
    model = Threshold()
    (label,) = predict(model, [half_bright()], tiny_config(), plugin)
    assert label.shape == (20, 30) and label.dtype == np.uint8
    assert label[:10].all() and not label[10:].any()
    assert model.calls == [(1, 1, 32, 32)]  # the network saw the configured input size


def test_sliding_window_keeps_native_resolution_for_large_images(plugin):
    model = Threshold()
    (logits,) = predict_logits(model, [half_bright((70, 50))], tiny_config(), sliding_window=True)
    assert logits.shape == (2, 70, 50)
    assert all(call[2:] == (32, 32) for call in model.calls)
    (label,) = predict(model, [half_bright((70, 50))], tiny_config(), plugin, sliding_window=True)
    assert label[:35].all() and not label[35:].any()


def test_load_model_restores_the_trained_network(tmp_path, plugin):
    config = tiny_config(epochs=1)
    train_model(config, plugin, TASK, discs(4), discs(2, seed=1), out_dir=tmp_path,
                device="cpu")
    model = load_model(tmp_path / "best.pt", config, plugin, TASK, device="cpu")
    assert not model.training
    (label,) = predict(model, discs(1, size=48, seed=2).images, config, plugin)
    assert label.shape == (48, 48)
    with pytest.raises(TrainingError, match="does not fit a unet network"):
        load_model(tmp_path / "best.pt", tiny_config(features=8), plugin, TASK)


def test_an_image_of_the_wrong_dimension_is_named():
    with pytest.raises(DataError, match=r"image 1 has shape \(1, 4, 4, 4\)"):
        predict_logits(Threshold(), [half_bright(), np.zeros((1, 4, 4, 4))], tiny_config())
