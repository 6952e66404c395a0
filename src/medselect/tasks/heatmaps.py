"""Landmarks as heatmaps: Gaussian targets, points read back from maps, and the losses.

Points are in pixel index coordinates of the map they belong to (axis order of the array), so
a point at index ``(3.0, 5.0)`` is the centre of pixel ``[3, 5]``. Every function works for
2D and 3D maps shaped ``(B, L, *spatial)``, one channel per landmark.

    >>> maps = gaussian_heatmaps(torch.tensor([[3.0, 5.0]]), (8, 8), sigma=1.0)
    >>> decode_points(maps[None]).tolist()
    [[[3.0, 5.0]]]
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def pixel_grid(size: Sequence[int], device: torch.device | None = None) -> torch.Tensor:
    """Index coordinates of every pixel, ``(D, *size)`` float32."""
    axes = [torch.arange(n, dtype=torch.float32, device=device) for n in size]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"))


def gaussian_heatmaps(points: torch.Tensor, size: Sequence[int], sigma: float) -> torch.Tensor:
    """One unnormalised Gaussian (peak 1 at the point) per point: ``(L, D)`` -> ``(L, *size)``."""
    grid = pixel_grid(size)
    offsets = grid[None] - points.float().reshape(*points.shape, *([1] * len(size)))
    return torch.exp(-(offsets**2).sum(dim=1) / (2.0 * sigma**2))


def heatmap_centroids(heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The weighted centre of each target map and whether it has one (not all zero or NaN).

    The centre of an untruncated Gaussian is its point exactly; a point moved out of the image
    by augmentation leaves an empty map, and a landmark the case lacks a NaN map: both are
    marked invalid, with a finite placeholder point (so a loss's gradient stays finite).

    Returns:
        ``(B, L, D)`` points and a ``(B, L)`` boolean mask of valid ones.
    """
    weights = heatmaps.nan_to_num(0.0).clamp(min=0).flatten(2)
    total = weights.sum(dim=2)
    grid = pixel_grid(heatmaps.shape[2:], heatmaps.device).flatten(1)  # (D, N)
    points = torch.einsum("bln,dn->bld", weights, grid) / total.clamp(min=1e-12)[..., None]
    return points, total > 1e-6


def soft_argmax(logits: torch.Tensor) -> torch.Tensor:
    """Differentiable points: the expectation of pixel coordinates under a spatial softmax."""
    probabilities = torch.softmax(logits.flatten(2).float(), dim=2)
    grid = pixel_grid(logits.shape[2:], logits.device).flatten(1)
    return torch.einsum("bln,dn->bld", probabilities, grid)


def decode_points(heatmaps: torch.Tensor, *, refine: bool = True,
                  radius: int | Sequence[int] = 2) -> torch.Tensor:
    """Each map's peak: the argmax, refined to sub-pixel precision when ``refine``.

    Refinement is a local soft-argmax: the centre of the map's positive values within
    ``radius`` pixels of the argmax, which only the peak's own neighbourhood can move (a
    global soft-argmax is pulled towards the image centre by low background values). A
    radius of about 3 sigma recovers a Gaussian's centre to ~0.01 pixel; a smaller one pulls
    it towards the argmax pixel. ``radius`` may be given per axis (maps resized anisotropically).
    """
    b, n_landmarks, *size = heatmaps.shape
    radii = [radius] * len(size) if isinstance(radius, int) else list(radius)
    maps = heatmaps.detach().float().reshape(b * n_landmarks, *size)
    peaks = torch.stack(torch.unravel_index(maps.flatten(1).argmax(dim=1), tuple(size)), dim=-1)
    points = peaks.float()
    if refine:
        for i, (heatmap, peak) in enumerate(zip(maps, peaks.tolist(), strict=True)):
            window = tuple(slice(max(c - r, 0), min(c + r + 1, n))
                           for c, r, n in zip(peak, radii, size, strict=True))
            weights = heatmap[window].clamp(min=0)
            total = weights.sum()
            if total > 0:
                offsets = torch.tensor([w.start for w in window], dtype=torch.float32,
                                       device=heatmap.device)
                grid = pixel_grid(weights.shape, weights.device)
                points[i] = (grid * weights).flatten(1).sum(dim=1) / total + offsets
    return points.reshape(b, n_landmarks, len(size))


class HeatmapMSELoss(torch.nn.Module):
    """Mean squared error between the network's maps and the Gaussian targets.

    Maps of landmarks a case lacks (NaN targets) do not count; a batch without any known map
    gives a zero loss that still has a gradient path.
    """

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        squared = (logits.float() - target.float().nan_to_num(0.0)) ** 2
        per_map = squared.flatten(2).mean(dim=2)
        known = ~target.isnan().flatten(2).any(dim=2)  # (B, L): the case has the landmark
        if not known.any():
            return (per_map * 0.0).sum()
        return per_map[known].mean()


class SoftArgmaxLoss(torch.nn.Module):
    """Mean L1 distance (pixels) between the soft-argmax of the logits and the target points.

    Landmarks whose target map is empty (moved out of the image) or NaN (the case lacks them)
    do not count; a batch without any valid landmark gives a zero loss that still has a
    gradient path.
    """

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        reference, valid = heatmap_centroids(target.float())
        distance = (soft_argmax(logits) - reference).abs().sum(dim=2)
        if not valid.any():
            return (distance * 0.0).sum()
        return distance[valid].mean()
