"""Small synthetic masks shared by the metric tests (every shape fits in 48³).

A plain module with a unique name (not conftest) so tests import it without ambiguity.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class Shapes:
    """Builders of binary masks in physical space (mm), so anisotropic spacing keeps shapes."""

    @staticmethod
    def grid(shape: Sequence[int], spacing: Sequence[float]) -> list[np.ndarray]:
        """Voxel-centre coordinates in mm, one open grid per axis."""
        return [g * s for g, s in zip(np.ogrid[tuple(slice(0, n) for n in shape)], spacing,
                                      strict=True)]

    @classmethod
    def ball(cls, shape, spacing, centre_mm, radius_mm) -> np.ndarray:
        grid = cls.grid(shape, spacing)
        return sum((g - c) ** 2 for g, c in zip(grid, centre_mm, strict=True)) <= radius_mm**2

    @classmethod
    def rotated_box(cls, shape, spacing, centre_mm, half_mm, angle_deg) -> np.ndarray:
        """A box rotated by ``angle_deg`` in the plane of the first two axes."""
        grid = cls.grid(shape, spacing)
        t = np.deg2rad(angle_deg)
        x, y = grid[0] - centre_mm[0], grid[1] - centre_mm[1]
        u, v = np.cos(t) * x + np.sin(t) * y, -np.sin(t) * x + np.cos(t) * y
        inside = (np.abs(u) <= half_mm[0]) & (np.abs(v) <= half_mm[1])
        for g, c, h in zip(grid[2:], centre_mm[2:], half_mm[2:], strict=True):
            inside = inside & (np.abs(g - c) <= h)
        return inside

    @staticmethod
    def box(shape, lo, hi) -> np.ndarray:
        mask = np.zeros(shape, dtype=bool)
        mask[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))] = True
        return mask

