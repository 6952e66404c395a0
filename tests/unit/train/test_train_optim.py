"""Optimisers and schedules: hand-checked learning rates."""

from __future__ import annotations

import pytest
import torch
from train_data import tiny_config

from medselect.train import build_optimizer, build_scheduler


def rates(scheduler_name: str, epochs: int = 4) -> list[float]:
    config = tiny_config(scheduler=scheduler_name, epochs=epochs, learning_rate=1.0)
    optimizer = build_optimizer(config, [torch.nn.Parameter(torch.zeros(1))])
    scheduler = build_scheduler(config, optimizer)
    seen = []
    for _ in range(epochs):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if scheduler:
            scheduler.step()
    return seen


def test_schedules():
    assert rates("none") == [1.0] * 4
    assert rates("cosine") == pytest.approx([1.0, 0.853553, 0.5, 0.146447], abs=1e-6)
    assert rates("step", epochs=6) == pytest.approx([1.0, 1.0, 0.1, 0.1, 0.01, 0.01])
    assert rates("poly") == pytest.approx([1.0, 0.75**0.9, 0.5**0.9, 0.25**0.9])


@pytest.mark.parametrize(("name", "cls"), [("adam", torch.optim.Adam),
                                           ("adamw", torch.optim.AdamW),
                                           ("sgd", torch.optim.SGD)])
def test_optimizers_take_rate_and_decay(name, cls):
    config = tiny_config(optimizer=name, learning_rate=0.02, weight_decay=0.001)
    optimizer = build_optimizer(config, [torch.nn.Parameter(torch.zeros(1))])
    group = optimizer.param_groups[0]
    assert type(optimizer) is cls
    assert (group["lr"], group["weight_decay"]) == (0.02, 0.001)
    if name == "sgd":
        assert group["momentum"] == 0.9
