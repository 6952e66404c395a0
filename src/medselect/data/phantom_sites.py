"""How each clinical site of the knee phantom turns a tissue map into an MR image.

The anatomy (:mod:`medselect.data.phantom`) says which tissue is where; a :class:`SiteProfile`
says how a scanner sees it: field of view (hence pixel spacing on a fixed matrix), cartilage
contrast, blur, a smooth multiplicative bias field and Rician noise. Sites differ on purpose, and
``site-d`` is much harder than the others, so that model quality depends on the site and
per-site selection has something to find.

A site scans with one of two sequences (:class:`MRSequence`). Most sites use a fat-suppressed
PD/T2-weighted sequence: intensities in units of joint fluid (1.0), fluid bright, cartilage
intermediate-bright, marrow and muscle dark, cortical bone darkest. ``site-e`` uses a T1-weighted
sequence without fat suppression, as an older protocol or another vendor's default does: fatty
marrow and fat bright, fluid dark, cartilage intermediate, the contrast between the tissues
reversed. A model that learnt "bright band over dark bone" transfers badly there unless it was
trained to ignore contrast polarity (the ``contrast`` augmentation preset).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum, StrEnum

import numpy as np
from scipy import ndimage

from medselect.errors import DataError


class Tissue(IntEnum):
    """Tissue codes of the map that the anatomy draws and a site renders."""

    SOFT = 0  # muscle, fat, tendon: the background of a knee slice
    MARROW = 1
    CORTEX = 2
    CARTILAGE = 3
    FLUID = 4


class MRSequence(StrEnum):
    """The MR sequence a site scans the knee with."""

    PD_FS = "pd_fs"  # fat-suppressed proton-density / T2-weighted: fluid bright
    T1 = "t1"  # T1-weighted, no fat suppression: fatty marrow bright, fluid dark


# Intensity of each tissue per sequence at full cartilage contrast (T1: in units of fatty
# marrow), how much fat-versus-muscle patches vary the soft tissue (fat is bright on T1), and
# how strongly each tissue's texture varies (fraction).
_BASE_INTENSITY = {
    MRSequence.PD_FS: {Tissue.SOFT: 0.38, Tissue.MARROW: 0.22, Tissue.CORTEX: 0.06,
                     Tissue.CARTILAGE: 0.72, Tissue.FLUID: 1.0},
    MRSequence.T1: {Tissue.SOFT: 0.42, Tissue.MARROW: 0.92, Tissue.CORTEX: 0.05,
                  Tissue.CARTILAGE: 0.5, Tissue.FLUID: 0.14},
}
_COARSE_SOFT_AMPLITUDE = {MRSequence.PD_FS: 0.25, MRSequence.T1: 0.45}
_TEXTURE = {Tissue.SOFT: 0.18, Tissue.MARROW: 0.12, Tissue.CORTEX: 0.05,
            Tissue.CARTILAGE: 0.04, Tissue.FLUID: 0.03}
_FINE_TEXTURE_MM = 1.5  # correlation length of trabecular / muscle texture
_COARSE_TEXTURE_MM = 10.0  # fat versus muscle patches in the soft tissue


@dataclass(frozen=True)
class SiteProfile:
    """The acquisition character of one site.

    Args:
        name: site name, written to the manifest's ``site`` column.
        fov_mm: field of view in mm, sampled onto the ``size`` x ``size`` matrix, so the pixel
            spacing is ``fov_mm / size`` (0.3 mm for 120 mm at 384 pixels).
        cartilage_contrast: scales the cartilage-to-marrow intensity difference (1 = nominal).
        noise_std: standard deviation of the complex Gaussian noise whose magnitude makes
            Rician noise, in units of the fluid intensity.
        bias_strength: largest log-amplitude of the smooth multiplicative bias field.
        blur_mm: Gaussian point-spread sigma in mm.
        sequence: the MR sequence, which sets every tissue's intensity.
    """

    name: str
    fov_mm: float = 120.0
    cartilage_contrast: float = 1.0
    noise_std: float = 0.03
    bias_strength: float = 0.15
    blur_mm: float = 0.3
    sequence: MRSequence = MRSequence.PD_FS

    def __post_init__(self) -> None:
        if not self.name:
            raise DataError("SiteProfile.name is empty; give every site a name")
        checks = {"fov_mm": self.fov_mm > 0, "cartilage_contrast": self.cartilage_contrast > 0,
                  "noise_std": self.noise_std >= 0, "bias_strength": self.bias_strength >= 0,
                  "blur_mm": self.blur_mm >= 0}
        for field_name, ok in checks.items():
            value = getattr(self, field_name)
            if not (ok and math.isfinite(value)):
                raise DataError(f"site {self.name!r}: {field_name}={value} is out of range; "
                                f"fov_mm and cartilage_contrast must be > 0, the others >= 0")

    def spacing_mm(self, size: int) -> float:
        """Pixel spacing in mm when this site's field of view is sampled onto ``size`` pixels."""
        return self.fov_mm / size


DEFAULT_SITES: tuple[SiteProfile, ...] = (
    SiteProfile("site-a", fov_mm=120.0, cartilage_contrast=1.0, noise_std=0.03,
                bias_strength=0.15, blur_mm=0.3),
    SiteProfile("site-b", fov_mm=140.0, cartilage_contrast=0.8, noise_std=0.05,
                bias_strength=0.3, blur_mm=0.5),
    SiteProfile("site-c", fov_mm=110.0, cartilage_contrast=1.15, noise_std=0.02,
                bias_strength=0.1, blur_mm=0.2),
    # The hard site: low cartilage contrast, strong noise and bias, coarse and blurred.
    SiteProfile("site-d", fov_mm=160.0, cartilage_contrast=0.35, noise_std=0.12,
                bias_strength=0.45, blur_mm=0.9),
    # Another sequence: T1-weighted, contrast polarity reversed (see the module docstring).
    SiteProfile("site-e", fov_mm=130.0, cartilage_contrast=1.0, noise_std=0.04,
                bias_strength=0.2, blur_mm=0.4, sequence=MRSequence.T1),
)


def render_site_image(tissues: np.ndarray, site: SiteProfile, spacing: Sequence[float],
                      rng: np.random.Generator) -> np.ndarray:
    """Intensity image (float32) of a tissue map as ``site`` acquires it.

    ``spacing`` is the voxel size in mm per axis, so texture and blur keep their size in mm
    on anisotropic grids.

    Order of effects: tissue intensities with texture, point-spread blur, bias field, Rician
    noise. Every random draw comes from ``rng``, so one generator state gives one image.
    """
    base = dict(_BASE_INTENSITY[site.sequence])
    marrow = base[Tissue.MARROW]
    base[Tissue.CARTILAGE] = marrow + site.cartilage_contrast * (base[Tissue.CARTILAGE] - marrow)
    lut_base = np.array([base[t] for t in Tissue])
    lut_texture = np.array([_TEXTURE[t] for t in Tissue])

    fine = _smooth_field(tissues.shape, [_FINE_TEXTURE_MM / s for s in spacing], rng)
    coarse = _smooth_field(tissues.shape, [_COARSE_TEXTURE_MM / s for s in spacing], rng)
    image = lut_base[tissues] * (1.0 + lut_texture[tissues] * fine)
    soft = tissues == Tissue.SOFT
    image[soft] *= 1.0 + _COARSE_SOFT_AMPLITUDE[site.sequence] * coarse[soft]
    if site.blur_mm > 0:
        image = ndimage.gaussian_filter(image, [site.blur_mm / s for s in spacing],
                                        mode="nearest")
    image *= _bias_field(tissues.shape, site.bias_strength, rng)
    real = image + rng.normal(0.0, site.noise_std, image.shape)
    imag = rng.normal(0.0, site.noise_std, image.shape)
    return np.hypot(real, imag).astype(np.float32)


def _smooth_field(shape: tuple[int, ...], sigma_px: Sequence[float],
                  rng: np.random.Generator) -> np.ndarray:
    """Gaussian-correlated noise of unit standard deviation (zero where it cannot vary)."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma_px, mode="wrap")
    std = field.std()
    return field / std if std > 0 else field


def _bias_field(shape: tuple[int, ...], strength: float, rng: np.random.Generator) -> np.ndarray:
    """``exp(strength * p)`` for a random quadratic polynomial ``p`` scaled to [-1, 1]."""
    axes = np.meshgrid(*(np.linspace(-1.0, 1.0, n) for n in shape), indexing="ij")
    terms = list(axes) + [axes[i] * axes[j] for i in range(len(axes)) for j in range(i, len(axes))]
    poly = sum(c * t for c, t in zip(rng.standard_normal(len(terms)), terms, strict=True))
    peak = np.abs(poly).max()
    return np.exp(strength * poly / peak) if peak > 0 else np.ones(shape)
