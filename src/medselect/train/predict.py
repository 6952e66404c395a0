"""Run a trained model on images of any size and return results at each image's own size.

By default an image goes through the same steps as in training (normalise, resize the whole
image to ``input_size``) and the logits are resized back (linear interpolation) before they
are decoded, so decoding happens at full resolution. ``sliding_window=True`` instead runs
MONAI's ``sliding_window_inference`` with ``input_size`` windows over the normalised image at
its own resolution when it is larger than ``input_size``: the right choice for models trained
on patches at native resolution (not the whole-image resizing of :mod:`.dataset`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from monai.inferers import sliding_window_inference
from monai.utils import convert_to_tensor

from medselect.config.run import RunConfig
from medselect.errors import DataError, TrainingError
from medselect.tasks.base import as_task_info
from medselect.train.checkpoint import load_checkpoint
from medselect.train.dataset import normalize, resize
from medselect.train.device import autocast, select_device
from medselect.train.zoo import build_network

if TYPE_CHECKING:
    from medselect.tasks.base import TaskLike, TaskPlugin


def load_model(
    checkpoint: Path, config: RunConfig, plugin: TaskPlugin, task: TaskLike,
    *, device: str | None = None,
) -> torch.nn.Module:
    """The network of ``config`` with the weights of ``checkpoint``, in eval mode.

    Raises:
        TrainingError: the checkpoint is unreadable or does not fit the configured network.
    """
    task = as_task_info(task)
    where = select_device(device)
    model = build_network(config, spatial_dims=task.spatial_dims, in_channels=task.in_channels,
                          out_channels=plugin.out_channels(task), plugin=plugin)
    state = load_checkpoint(checkpoint, map_location=where)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise TrainingError(
            f"checkpoint {checkpoint} does not fit a {config.architecture} network of this "
            f"configuration ({str(exc).splitlines()[0]})"
        ) from exc
    return model.to(where).eval()


@torch.no_grad()
def predict_logits(
    model: torch.nn.Module, images: Sequence[np.ndarray], config: RunConfig,
    *, sliding_window: bool = False, overlap: float = 0.25,
) -> list[np.ndarray]:
    """Logits per image, ``(C, *image spatial size)`` for spatial outputs.

    Args:
        images: ``(C, *spatial)`` float arrays, raw intensities (normalised here).
        sliding_window: window over images larger than ``input_size`` instead of resizing.
        overlap: window overlap for ``sliding_window``.

    Raises:
        DataError: an image's number of spatial axes differs from ``input_size``.
    """
    device = next(model.parameters()).device
    model.eval()
    outputs = []
    for index, image in enumerate(images):
        x = normalize(image, config.normalization)
        size = tuple(x.shape[1:])
        if len(size) != len(config.input_size):
            raise DataError(
                f"image {index} has shape {tuple(x.shape)}: {len(size)} spatial axes, but the "
                f"model takes input_size {list(config.input_size)}; give (C, *spatial) arrays"
            )
        larger = any(s > r for s, r in zip(size, config.input_size, strict=True))
        with autocast(device):
            if sliding_window and larger:
                logits = sliding_window_inference(
                    x[None].to(device), roi_size=tuple(config.input_size),
                    sw_batch_size=config.batch_size, predictor=model, overlap=overlap,
                    mode="gaussian",
                )[0]
            else:
                logits = model(resize(x, config.input_size)[None].to(device))[0]
        logits = convert_to_tensor(logits, track_meta=False).float().cpu()
        if logits.ndim == x.ndim:
            logits = resize(logits, size)
        outputs.append(logits.numpy())
    return outputs


def predict(
    model: torch.nn.Module, images: Sequence[np.ndarray], config: RunConfig, plugin: TaskPlugin,
    *, sliding_window: bool = False,
) -> list[np.ndarray]:
    """Decoded predictions per image (a label map at the image's size for segmentation)."""
    logits = predict_logits(model, images, config, sliding_window=sliding_window)
    return [plugin.decode(torch.from_numpy(item)[None])[0] for item in logits]
