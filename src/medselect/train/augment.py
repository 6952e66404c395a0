"""Augmentation presets built from MONAI dictionary transforms on keys ``image`` and ``label``.

One table (:func:`_steps`) defines each preset; :func:`build_preset` instantiates it and
:func:`describe_preset` returns the same steps as JSON for the run record, so what is recorded
is what ran. Geometric steps move the label with the image (nearest interpolation for label
maps); intensity steps touch the image only. Intensity parameters are in units of normalised
images (augmentation runs after normalisation).

=========  ==========================================================================
none       nothing
light      flip along the first axis, small rotation, intensity scaling
geometry   flips along every axis, rotation, affine scale/shear, elastic deformation
intensity  intensity scale and shift, gamma, Gaussian noise, bias field
strong     geometry followed by intensity
contrast   light, then contrast polarity inversion (half the images) and a mild gamma: for
           sites that scan with another sequence (T1 beside fat-suppressed PD), where the
           tissues' order of brightness differs; heavier intensity curves cost accuracy on
           the sites trained on
=========  ==========================================================================
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from monai import transforms
from monai.utils import convert_to_tensor

from medselect.config.choices import AugmentationPreset, resolve
from medselect.errors import ConfigError


class _Step(NamedTuple):
    transform: str  # a MONAI dictionary transform class name
    params: dict[str, Any]
    geometric: bool  # moves pixels: applied to the label too
    interpolates: bool = False  # takes a ``mode`` (image bilinear, label per target mode)


def _flip(axis: int) -> _Step:
    return _Step("RandFlipd", {"spatial_axis": axis, "prob": 0.5}, geometric=True)


def _rotation(dims: int, degrees: float, prob: float) -> _Step:
    angle = round(math.radians(degrees), 4)
    axes = ("range_x",) if dims == 2 else ("range_x", "range_y", "range_z")
    return _Step("RandRotated", {a: angle for a in axes} | {"prob": prob}, True, True)


def _affine(dims: int) -> _Step:
    shears = 2 if dims == 2 else 6
    params = {"scale_range": [0.1] * dims, "shear_range": [0.1] * shears, "prob": 0.3}
    return _Step("RandAffined", params, geometric=True, interpolates=True)


def _elastic(dims: int) -> _Step:
    if dims == 2:
        params = {"spacing": [16, 16], "magnitude_range": [1.0, 2.0], "prob": 0.2}
        return _Step("Rand2DElasticd", params, geometric=True, interpolates=True)
    params = {"sigma_range": [5.0, 7.0], "magnitude_range": [50.0, 150.0], "prob": 0.2}
    return _Step("Rand3DElasticd", params, geometric=True, interpolates=True)


_INTENSITY = (
    _Step("RandScaleIntensityd", {"factors": 0.1, "prob": 0.3}, geometric=False),
    _Step("RandShiftIntensityd", {"offsets": 0.1, "prob": 0.3}, geometric=False),
    _Step("RandAdjustContrastd", {"gamma": [0.7, 1.5], "prob": 0.3}, geometric=False),
    _Step("RandGaussianNoised", {"std": 0.05, "prob": 0.2}, geometric=False),
    _Step("RandBiasFieldd", {"coeff_range": [0.0, 0.1], "prob": 0.2}, geometric=False),
)


_CONTRAST = (
    # v * (1 + factor) with factor -2: the normalised image negated, dark tissue bright
    _Step("RandScaleIntensityd", {"factors": [-2.0, -2.0], "prob": 0.5}, geometric=False),
    _INTENSITY[2],  # mild gamma: the tissues' brightness ratios differ between sequences too
)


def _steps(preset: AugmentationPreset, dims: int) -> list[_Step]:
    geometry = [*map(_flip, range(dims)), _rotation(dims, 15, 0.3), _affine(dims), _elastic(dims)]
    return {
        AugmentationPreset.NONE: [],
        AugmentationPreset.LIGHT: [_flip(0), _rotation(dims, 10, 0.3), _INTENSITY[0]],
        AugmentationPreset.GEOMETRY: geometry,
        AugmentationPreset.INTENSITY: list(_INTENSITY),
        AugmentationPreset.STRONG: geometry + list(_INTENSITY),
        AugmentationPreset.CONTRAST: [_flip(0), _rotation(dims, 10, 0.3), _INTENSITY[0],
                                      *_CONTRAST],
    }[preset]


def _resolve(name: AugmentationPreset | str, spatial_dims: int) -> AugmentationPreset:
    if spatial_dims not in (2, 3):
        raise ConfigError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
    try:
        return resolve(AugmentationPreset, name)
    except ValueError as exc:
        raise ConfigError(f"augmentation: {exc}") from None


def _keyed(step: _Step, label_mode: str | None) -> dict[str, Any]:
    """The step's constructor arguments: keys and interpolation modes, then its parameters."""
    if step.geometric and label_mode is not None:
        args: dict[str, Any] = {"keys": ["image", "label"]}
        if step.interpolates:
            args["mode"] = ["bilinear", label_mode]
    else:
        args = {"keys": ["image"]}
        if step.interpolates:
            args["mode"] = "bilinear"
    return args | step.params


def describe_preset(
    name: AugmentationPreset | str, spatial_dims: int = 2, *, label_mode: str | None = "nearest"
) -> list[dict[str, Any]]:
    """The preset as ``[{"transform": "RandFlipd", "keys": [...], ...params}, ...]`` (JSON-able).

    Raises:
        ConfigError: unknown preset name (with a suggestion).
    """
    steps = _steps(_resolve(name, spatial_dims), spatial_dims)
    return [{"transform": step.transform} | _keyed(step, label_mode) for step in steps]


def build_preset(
    name: AugmentationPreset | str, spatial_dims: int, *, label_mode: str | None = "nearest",
    seed: int = 0,
) -> transforms.Compose:
    """The preset as a seeded MONAI ``Compose`` over dicts with ``image`` (and ``label``).

    Args:
        label_mode: how geometric steps resample the label (``nearest`` for label maps), or
            None when the label is not spatial and must be left alone.

    Raises:
        ConfigError: unknown preset name (with a suggestion).
    """
    steps = [
        getattr(transforms, spec.pop("transform"))(**spec)
        for spec in describe_preset(name, spatial_dims, label_mode=label_mode)
    ]
    compose = transforms.Compose(steps)
    compose.set_random_state(seed=seed)
    return compose


def offline_augment(
    images: Sequence[torch.Tensor | np.ndarray],
    labels: Sequence[torch.Tensor | np.ndarray] | None,
    copies: int,
    seed: int,
    *,
    label_mode: str | None = "nearest",
) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
    """``copies`` augmented versions of every case with the ``strong`` preset, made once.

    Args:
        images: channel-first images ``(C, *spatial)``.
        labels: matching spatial labels ``(1, *spatial)``, or None for non-spatial targets.
        copies: augmented copies per case; the result holds ``copies * len(images)`` items,
            copy by copy (all cases of copy 1, then copy 2, ...).
        seed: the same seed gives the same copies.

    Returns:
        ``(images, labels)``; labels is None when None was given.
    """
    if not images:
        return [], None if labels is None else []
    dims = images[0].ndim - 1
    augment = build_preset(
        AugmentationPreset.STRONG, dims, label_mode=label_mode if labels is not None else None,
        seed=seed,
    )
    out_images: list[torch.Tensor] = []
    out_labels: list[torch.Tensor] = []
    for _ in range(copies):
        for i, image in enumerate(images):
            item = {"image": image} if labels is None else {"image": image, "label": labels[i]}
            result = augment(item)
            out_images.append(convert_to_tensor(result["image"], track_meta=False))
            if labels is not None:
                out_labels.append(convert_to_tensor(result["label"], track_meta=False))
    return out_images, None if labels is None else out_labels
