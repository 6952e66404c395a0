"""Optimisers and schedules: hand-checked learning rates."""

from __future__ import annotations

import pytest
import torch
from train_data import tiny_config

from medselect.train import build_optimizer, build_scheduler


def rates(scheduler_name: str, epochs: int = 4, **fields) -> list[float]:
    config = tiny_config(scheduler=scheduler_name, epochs=epochs, learning_rate=1.0, **fields)
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


def test_warmup_rises_linearly_then_hands_over_to_the_schedule():
    # epoch e <= w trains at lr * e / (w + 1); the cosine then runs over the other 4 epochs
    assert rates("cosine", epochs=6, warmup_epochs=2) == pytest.approx(
        [1 / 3, 2 / 3, 1.0, 0.853553, 0.5, 0.146447], abs=1e-6)
    assert rates("none", epochs=4, warmup_epochs=3) == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert rates("step", epochs=5, warmup_epochs=2) == pytest.approx(
        [1 / 3, 2 / 3, 1.0, 0.1, 0.01])


def test_one_cycle_rises_over_its_warmup_then_anneals():
    # OneCycleLR: from lr / 25 to lr at the end of the rise, cosine down to lr / 25e4
    assert rates("one_cycle", epochs=10) == pytest.approx(
        [0.04, 0.52, 1.0, 0.950484, 0.811745, 0.611260, 0.388740, 0.188255, 0.049516, 4e-6],
        abs=1e-5)
    assert rates("one_cycle", epochs=5, warmup_epochs=2)[:2] == pytest.approx([0.04, 1.0])


@pytest.mark.parametrize("fields", [{"scheduler": "cosine", "warmup_epochs": 2},
                                    {"scheduler": "one_cycle"}])
def test_a_schedule_resumes_from_its_state_dict(fields):
    """A schedule restored from a checkpoint (loaded with weights_only) goes on where it was."""
    import io

    straight = rates(fields["scheduler"], epochs=6, **{k: v for k, v in fields.items()
                                                      if k != "scheduler"})
    config = tiny_config(epochs=6, learning_rate=1.0, **fields)
    optimizer = build_optimizer(config, [torch.nn.Parameter(torch.zeros(1))])
    scheduler = build_scheduler(config, optimizer)
    for _ in range(3):
        optimizer.step()
        scheduler.step()
    saved = io.BytesIO()
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, saved)
    saved.seek(0)
    state = torch.load(saved, weights_only=True)
    optimizer = build_optimizer(config, [torch.nn.Parameter(torch.zeros(1))])
    scheduler = build_scheduler(config, optimizer)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    resumed = []
    for _ in range(3):
        resumed.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert resumed == pytest.approx(straight[3:])
