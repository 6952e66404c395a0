"""Fixtures of the training tests; the data helpers are in ``train_data``."""

from __future__ import annotations

import pytest
import torch

from medselect.tasks import SegmentationPlugin


@pytest.fixture(autouse=True)
def one_thread():
    """Tests share 2 cores with each other; one torch thread each keeps them fast."""
    torch.set_num_threads(1)


@pytest.fixture
def plugin() -> SegmentationPlugin:
    return SegmentationPlugin()
