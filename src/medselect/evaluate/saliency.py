"""Saliency maps of image-level networks: which pixels moved the predicted class the most.

An expert who sees "thinning (0.91)" wants to know where the network looked. MONAI's
``VanillaGrad`` (Simonyan et al. 2014, the gradient of the predicted class's logit with respect
to the input) answers that for any network without naming one of its layers (Grad-CAM would need
a target layer per architecture), at the cost of one forward and one backward pass per case.
Gradients need autograd, so this runs outside ``torch.no_grad`` / inference mode, and only when
overlays are drawn.

A map is the gradient's magnitude (largest over input channels), smoothed over about one input
pixel so that single-pixel gradient noise does not hide the region, resized back to the image's
own size as the logits are, and scaled to [0, 1] by its 99th percentile so that a few extreme
pixels do not wash out the rest.

Example::

    >>> maps = saliency_maps(network, config, [case.image for case in cases])
    >>> maps[0].shape == cases[0].image.shape[1:], float(maps[0].max()) <= 1.0
    (True, True)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from monai.transforms import GaussianSmooth
from monai.visualize import VanillaGrad

from medselect.config.run import RunConfig
from medselect.evaluate.inference import network_inputs
from medselect.train import resize

SMOOTHING_PX = 1.0
"""Gaussian sigma of the smoothing, in input pixels (the network's grid)."""
SCALE_PERCENTILE = 99.0
"""The value of this percentile of a map becomes 1; larger values are clipped to 1."""


def saliency_maps(
    network: torch.nn.Module,
    config: RunConfig,
    images: Sequence[np.ndarray],
    *,
    shared: dict | None = None,
) -> list[np.ndarray]:
    """One saliency map per image, for the class the network predicts for it.

    Args:
        network: an image-level network (``(B, C)`` logits), in eval mode.
        images: ``(C, *spatial)`` raw intensities, each preprocessed as for prediction.
        shared: the cache of preprocessed inputs that :func:`~medselect.evaluate.inference.
            predict_labels` filled for these same images (None: preprocess them here).

    Returns:
        float32 maps of each image's spatial shape, in [0, 1].
    """
    device = next(network.parameters()).device
    inputs = network_inputs(images, list(range(len(images))), config, device,
                            {} if shared is None else shared)
    gradient = VanillaGrad(network)
    smooth = GaussianSmooth(sigma=SMOOTHING_PX)
    maps = []
    with torch.enable_grad():
        for i, image in enumerate(images):
            grad = gradient(inputs[i:i + 1].detach().clone())  # a new leaf: its own .grad
            heat = smooth(grad[0].abs().amax(dim=0, keepdim=True).float())
            maps.append(_unit_scale(resize(heat, image.shape[1:])[0].cpu().numpy()))
    return maps


def _unit_scale(heat: np.ndarray) -> np.ndarray:
    """``heat`` divided by its :data:`SCALE_PERCENTILE` and clipped to [0, 1] (0 if flat)."""
    top = float(np.percentile(heat, SCALE_PERCENTILE))
    if not np.isfinite(top) or top <= 0:
        return np.zeros(heat.shape, dtype=np.float32)
    return np.clip(heat / top, 0.0, 1.0).astype(np.float32)
