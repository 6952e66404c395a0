"""Spacing checks and the physical sizes that metrics share."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from medselect.errors import DataError


def check_spacing(spacing: Sequence[float] | float, ndim: int) -> tuple[float, ...]:
    """``spacing`` as one positive, finite mm value per axis.

    A single number means isotropic spacing.

    Raises:
        DataError: wrong number of values, or a value that is not positive and finite.
    """
    values = (spacing,) * ndim if np.ndim(spacing) == 0 else tuple(spacing)  # type: ignore[arg-type]
    if len(values) != ndim:
        raise DataError(
            f"spacing {tuple(values)} has {len(values)} values for an image of {ndim} "
            f"dimensions; give one spacing in mm per axis"
        )
    out = tuple(float(v) for v in values)
    if not all(math.isfinite(v) and v > 0 for v in out):
        raise DataError(f"spacing {out} must be positive and finite (mm per voxel)")
    return out


def image_diagonal_mm(shape: Sequence[int], spacing: Sequence[float]) -> float:
    """Diagonal of the field of view (norm of shape x spacing), in mm.

    It exceeds every distance between two voxel centres of the image, so it is what a distance
    metric reports when one side is empty (see :class:`~medselect.metrics.spec.EmptyRule`).
    """
    return math.hypot(*(n * s for n, s in zip(shape, spacing, strict=True)))


def voxel_volume(spacing: Sequence[float]) -> float:
    """Volume of one voxel in mm³ (area of one pixel in mm² for 2D)."""
    return math.prod(spacing)
