"""The in-memory image every reader returns and every later layer consumes.

Axis convention (as MONAI and nibabel): spatial axes are ordered x, y[, z]; ``spacing`` and
``origin`` follow the same order, in millimetres. A 2D PNG of H rows and W columns therefore
becomes an array of shape (W, H). Multi-channel cases (nnU-Net ``_0000``, ``_0001``) are separate
files, stacked channel-first by whoever needs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Image:
    """A spatial array with its physical geometry.

    Args:
        array: float32 for intensities, an integer dtype for label maps; shape (x, y[, z]).
        spacing: voxel size in mm per spatial axis.
        origin: world position of voxel (0, 0[, 0]) in mm.
        direction: row-major direction cosine matrix (ndim x ndim), identity by default.
    """

    array: np.ndarray
    spacing: tuple[float, ...]
    origin: tuple[float, ...] = ()
    direction: tuple[float, ...] = ()
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        ndim = self.array.ndim
        if len(self.spacing) != ndim:
            raise ValueError(
                f"spacing has {len(self.spacing)} values for an array of {ndim} dimensions"
            )
        if not self.origin:
            object.__setattr__(self, "origin", (0.0,) * ndim)
        if not self.direction:
            object.__setattr__(self, "direction", tuple(np.eye(ndim).ravel().tolist()))

    @property
    def ndim(self) -> int:
        return self.array.ndim

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape)
