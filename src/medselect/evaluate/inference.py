"""Batched inference of one trained network on a batch of cases, at each case's own size.

The steps are those of :func:`medselect.train.predict` (normalise, resize the whole image to
``input_size``, run the network, resize the logits back linearly, decode), done for many cases
at once: the resized inputs of a batch are stacked and go through the network in mini-batches
of the run's training batch size (which fit its memory while training, so they fit without
gradients); logits of cases of the same size are resized back together. Preprocessed inputs
are kept in a dict the caller shares between models, so models with the same normalisation and
input size preprocess a case only once. With ``sliding_window`` a case larger than the input
size is predicted alone by MONAI's sliding-window inference instead (``train.predict``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import torch
from monai.utils import convert_to_tensor

from medselect.config.run import RunConfig
from medselect.tasks import TaskPlugin
from medselect.train import autocast, predict, preprocess_image, resize


@torch.no_grad()
def predict_labels(
    network: torch.nn.Module,
    config: RunConfig,
    plugin: TaskPlugin,
    images: Sequence[np.ndarray],
    *,
    sliding_window: bool = False,
    shared: dict | None = None,
) -> list[np.ndarray]:
    """Label maps of ``images`` (``(C, *spatial)`` raw intensities), each at its own size, or
    for an image-level (classification) network each image's ``(classes,)`` probabilities.

    Args:
        sliding_window: predict images larger than ``config.input_size`` with sliding windows.
        shared: cache of preprocessed inputs for these same ``images``, shared between models.
    """
    device = next(network.parameters()).device
    network.eval()
    labels: list[np.ndarray | None] = [None] * len(images)
    windowed = [i for i, image in enumerate(images)
                if sliding_window and _larger(image.shape[1:], config.input_size)]
    for i in windowed:
        labels[i] = predict(network, [images[i]], config, plugin, sliding_window=True)[0]
    whole = [i for i in range(len(images)) if i not in windowed]
    if whole:
        inputs = network_inputs(images, whole, config, device,
                                {} if shared is None else shared)
        for start in range(0, len(whole), config.batch_size):
            batch = whole[start:start + config.batch_size]
            with autocast(device):
                logits = network(inputs[start:start + len(batch)])
            logits = convert_to_tensor(logits, track_meta=False).float()
            for shape, positions in _by_shape(images, batch).items():
                part = _resize_logits(logits[positions], shape)
                for position, decoded in zip(positions, plugin.decode(part), strict=True):
                    labels[batch[position]] = decoded
    return labels  # type: ignore[return-value]  # every index was filled above


def network_inputs(images: Sequence[np.ndarray], indices: list[int], config: RunConfig,
                   device: torch.device, shared: dict) -> torch.Tensor:
    """The stacked network inputs of ``images[indices]`` on ``device``, from ``shared`` if there
    (and kept there for the next model or for :mod:`~medselect.evaluate.saliency`)."""
    key = ("inputs", config.normalization, tuple(config.input_size), str(device), tuple(indices))
    if key not in shared:
        stacked = torch.stack([preprocess_image(images[i], config) for i in indices])
        shared[key] = stacked.to(device)
    return shared[key]


def _by_shape(images: Sequence[np.ndarray], batch: list[int]) -> dict[tuple[int, ...], list[int]]:
    """Positions in ``batch`` grouped by the spatial shape of their image."""
    groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for position, index in enumerate(batch):
        groups[tuple(images[index].shape[1:])].append(position)
    return groups


def _resize_logits(logits: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """``(B, C, *input)`` logits resized to ``(B, C, *shape)``, every item as ``train.predict``;
    image-level ``(B, C)`` logits (classification) have no size and are returned as they are."""
    if logits.ndim == 2 or tuple(logits.shape[2:]) == shape:
        return logits
    batch, channels = logits.shape[:2]
    flat = resize(logits.reshape(batch * channels, *logits.shape[2:]), shape)
    return flat.reshape(batch, channels, *shape)


def _larger(size: Sequence[int], input_size: Sequence[int]) -> bool:
    return any(s > r for s, r in zip(size, input_size, strict=True))
