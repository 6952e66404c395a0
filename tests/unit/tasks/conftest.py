"""Fixtures of the task plugin tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """Tests share 2 cores with each other; one torch thread each keeps them fast."""
    torch.set_num_threads(1)
