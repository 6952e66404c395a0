"""Device choice, mixed precision switches and seeding."""

from __future__ import annotations

import pytest
import torch

from medselect.errors import ConfigError
from medselect.train import autocast, grad_scaler, seed_everything, select_device


def test_cpu_is_chosen_without_cuda_and_mixed_precision_is_off():
    device = select_device("cpu")
    assert device == torch.device("cpu")
    assert not grad_scaler(device).is_enabled()
    with autocast(device):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32
    if not torch.cuda.is_available():
        assert select_device(None).type == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present")
def test_asking_for_missing_cuda_names_the_device():
    with pytest.raises(ConfigError, match="device: 'cuda:1' was asked for but CUDA"):
        select_device("cuda:1")


def test_bad_device_name():
    with pytest.raises(ConfigError, match="device: 'gpu0' is not a device name"):
        select_device("gpu0")


def test_seeding_repeats_random_draws():
    seed_everything(5)
    first = torch.rand(3)
    seed_everything(5, deterministic=True)
    assert torch.equal(first, torch.rand(3))
    assert torch.are_deterministic_algorithms_enabled()
    seed_everything(5)
    assert not torch.are_deterministic_algorithms_enabled()
