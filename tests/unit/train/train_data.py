"""Tiny synthetic segmentation data: one bright disc per 32x32 image, label 1 inside it."""

from __future__ import annotations

import numpy as np

from medselect.config.run import RunConfig
from medselect.tasks import TaskInfo
from medselect.train import TrainingData

TASK = TaskInfo("segmentation", spatial_dims=2, in_channels=1, classes=("background", "disc"))


def discs(n: int, size: int = 32, seed: int = 0) -> TrainingData:
    """``n`` noisy images of a disc (radius 4-8 pixels) with its label map."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    images, labels = [], []
    for _ in range(n):
        cx, cy = rng.uniform(size * 0.3, size * 0.7, 2)
        radius = rng.uniform(size / 8, size / 4)
        label = ((xx - cx) ** 2 + (yy - cy) ** 2 < radius**2).astype(np.uint8)
        image = 2.0 * label + rng.normal(0, 0.5, label.shape)
        images.append(image[None].astype(np.float32))
        labels.append(label)
    return TrainingData(images, labels, [f"disc-{seed}-{i}" for i in range(n)])


def tiny_config(**fields) -> RunConfig:
    """A configuration that trains in a fraction of a second on 32x32 inputs."""
    base = {"input_size": (32, 32), "depth": 2, "features": 4, "epochs": 2, "batch_size": 4,
            "learning_rate": 1e-2}
    return RunConfig(**(base | fields))
