"""A deterministic multi-site knee MR phantom: sagittal slices with labels, landmarks and targets.

Anatomy is drawn in a knee frame in mm (u: anterior → posterior, v: superior → inferior, w:
medial → lateral in 3D; origin in the middle of the joint space) with signed distance functions,
then sampled at the voxel centres of the site's field of view, so one patient looks the same at
every matrix size and landmarks are exact. Array axis 0 (x) runs anterior → posterior and axis 1
(y) superior → inferior: as a PNG, the femur is at the top, the tibia at the bottom and the
patella on the left. 3D volumes extrude the slice over the knee's width (patella: an ellipsoid).

Example::

    >>> case = generate_case(7, DEFAULT_SITES[0], size=64)
    >>> case.label.array.max(), case.landmarks["patella_centre"], case.target
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import os
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import nibabel as nib
import numpy as np

from medselect.data.case import CaseRecord
from medselect.data.image import Image
from medselect.data.phantom_sites import DEFAULT_SITES, SiteProfile, Tissue, render_site_image
from medselect.errors import DataError
from medselect.store.artifacts import atomic_write_bytes

KNEE_CLASSES: tuple[str, ...] = (
    "background", "femur", "tibia", "patella", "femoral_cartilage", "tibial_cartilage",
)
KNEE_LANDMARKS: tuple[str, ...] = (
    "femoral_condyle_distal", "tibial_plateau_centre", "patella_centre", "patella_apex",
)
THIN_CARTILAGE_MM = 2.0
"""A knee whose femoral cartilage is thinner than this has ``target`` 1 (thinning), else 0."""

_MIN_BAND_PX = 1.2  # thinnest drawn cartilage in pixels, so that 32x32 images keep every class
_CORTEX_MM = 1.2
_FEMORAL_CARTILAGE_ARC_DEG = (-120.0, 110.0)  # angle from straight down; negative is anterior
_PATELLA_GAP_MM = 1.5  # patella to femoral cartilage
_PLATEAU_HEIGHT_MM = 20.0
_FLUID_MARGIN_MM = 3.0  # joint fluid reaches this far beyond both cartilage surfaces
_JOINT_OFFSET_MM = (7.0, 7.0)  # joint centre from image centre: room for the patella
_BONE_LENGTH_MM = 400.0  # long enough for every shaft to leave every field of view
_KNEE_HALF_WIDTH_MM = 40.0  # medial-lateral extent of the extruded 3D anatomy
# 3D volumes are sagittal stacks: slices this many times thicker than the in-plane pixels (as
# in clinical knee MR, 0.3-0.6 mm pixels and 2-3 mm slices), over the same field of view.
_SLICE_THICKNESS_FACTOR = 2
_MANIFEST_COLUMNS = ("case_id", "image", "label", "site", "patient_id", "landmarks", "target",
                     "visit")


@dataclass(frozen=True)
class KneeAnatomy:
    """One patient's knee, in mm and degrees (see :func:`sample_anatomy` for the ranges)."""

    condyle_radius_mm: float
    femur_shaft_mm: float
    plateau_depth_mm: float
    plateau_offset_mm: float
    tibia_shaft_mm: float
    tibial_slope_deg: float
    femoral_cartilage_mm: float
    tibial_cartilage_mm: float
    joint_gap_mm: float
    patella_length_mm: float
    patella_thickness_mm: float
    patella_height_mm: float
    patella_tilt_deg: float

    @property
    def target(self) -> int:
        """Cartilage-thinning grade: 1 when femoral cartilage is below ``THIN_CARTILAGE_MM``."""
        return int(self.femoral_cartilage_mm < THIN_CARTILAGE_MM)


@dataclass(frozen=True)
class KneePose:
    """How the knee lies in one acquisition: flexion, in-plane rotation and shift (mm)."""

    flexion_deg: float
    rotation_deg: float
    shift_mm: tuple[float, float]


@dataclass(frozen=True)
class PhantomCase:
    """One generated case.

    ``landmarks`` maps each name of ``KNEE_LANDMARKS`` to voxel index coordinates (x, y[, z]).
    """

    image: Image
    label: Image
    landmarks: dict[str, tuple[float, ...]]
    anatomy: KneeAnatomy
    pose: KneePose
    site: str

    @property
    def target(self) -> int:
        return self.anatomy.target


def sample_anatomy(rng: np.random.Generator) -> KneeAnatomy:
    """A random but plausible knee; draws always in the same order, so a seed fixes a patient."""
    u = rng.uniform
    return KneeAnatomy(
        condyle_radius_mm=u(17.0, 23.0), femur_shaft_mm=u(24.0, 32.0),
        plateau_depth_mm=u(44.0, 54.0), plateau_offset_mm=u(-3.0, 3.0),
        tibia_shaft_mm=u(26.0, 34.0), tibial_slope_deg=u(3.0, 10.0),
        femoral_cartilage_mm=u(1.2, 3.4), tibial_cartilage_mm=u(1.0, 3.0),
        joint_gap_mm=u(0.5, 2.5), patella_length_mm=u(28.0, 38.0),
        patella_thickness_mm=u(14.0, 20.0), patella_height_mm=u(0.0, 10.0),
        patella_tilt_deg=u(-8.0, 8.0),
    )


def sample_pose(rng: np.random.Generator) -> KneePose:
    """A random positioning of the knee in the scanner."""
    return KneePose(flexion_deg=rng.uniform(0.0, 25.0), rotation_deg=rng.uniform(-8.0, 8.0),
                    shift_mm=(rng.uniform(-4.0, 4.0), rng.uniform(-4.0, 4.0)))


def generate_case(
    rng: int | np.random.Generator,
    site: SiteProfile,
    size: int = 128,
    spatial_dims: int = 2,
    *,
    anatomy: KneeAnatomy | None = None,
    pose: KneePose | None = None,
) -> PhantomCase:
    """Draw one knee as ``site`` acquires it on a ``size`` x ``size`` matrix.

    A 3D case is a sagittal stack of ``size // 2`` slices, each twice as thick as the in-plane
    pixel spacing, so its spacing is anisotropic like a clinical knee MR volume.

    Args:
        rng: a seed or a generator; the same seed (or generator state) gives identical arrays.
        site: acquisition profile; its field of view sets the spacing (``fov_mm / size``).
        size: pixels per in-plane axis (at least 16).
        spatial_dims: 2 for a sagittal slice, 3 for a small volume.
        anatomy, pose: fixed instead of drawn from ``rng`` (a patient's second visit).

    Raises:
        DataError: ``size`` below 16 or ``spatial_dims`` not 2 or 3.
    """
    if spatial_dims not in (2, 3):
        raise DataError(f"spatial_dims={spatial_dims} is not supported; use 2 or 3")
    if size < 16:
        raise DataError(f"size={size} is too small for the knee phantom; use 16 or more")
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    anatomy = sample_anatomy(rng) if anatomy is None else anatomy
    pose = sample_pose(rng) if pose is None else pose
    spacing = site.spacing_mm(size)
    knee = _Knee(anatomy, pose, spacing, size)
    labels, tissues = knee.draw(spatial_dims)
    grid = knee.grid_spacing(spatial_dims)
    image = render_site_image(tissues, site, grid, rng)
    return PhantomCase(
        image=Image(image, grid), label=Image(labels, grid),
        landmarks=knee.landmarks(spatial_dims), anatomy=anatomy, pose=pose, site=site.name,
    )


def synth_knee_dataset(
    out_dir: str | os.PathLike[str],
    *,
    cases_per_site: int | Mapping[str, int] = 8,
    sites: Sequence[SiteProfile] = DEFAULT_SITES[:4],
    size: int = 128,
    seed: int = 0,
    spatial_dims: int = 2,
    second_visit_fraction: float = 0.3,
    first_patient: int = 0,
) -> list[CaseRecord]:
    """Write a multi-site knee dataset and its ``manifest.csv``; return its records.

    ``cases_per_site`` is one count for every site, or a count per site name. ``sites``: by
    default ``site-a`` to ``site-d`` (the experiment's ``sites: 4``); the T1 ``site-e`` only
    when named, so data made before it existed comes out the same.
    Layout: ``images/<id>.nii.gz``, ``labels/<id>.nii.gz``, ``landmarks/<id>.json`` and
    ``manifest.csv`` (paths relative to ``out_dir``; an extra ``visit`` column). About
    ``second_visit_fraction`` of the patients get a second visit (same anatomy, slightly thinner
    cartilage, new pose and noise), so patient-level splitting matters. Case ids read
    ``<site>-p<NNN>-v<visit>``; a patient's cases depend only on ``seed``, its site's name and
    its number, not on the other sites. Files are written atomically and byte-identically for
    the same arguments. The returned records hold absolute paths. ``first_patient`` numbers
    the patients from there: with the same ``seed``, patients beyond a dataset's own are new
    patients of the same sites (cases to predict, never seen in training).

    Raises:
        DataError: no sites, duplicate site names, or an argument out of range.
    """
    names = [site.name for site in sites]
    if not names or len(set(names)) != len(names):
        raise DataError(f"sites {names} must be non-empty and uniquely named")
    counts = (cases_per_site if isinstance(cases_per_site, Mapping)
              else dict.fromkeys(names, cases_per_site))
    if set(counts) != set(names):
        raise DataError(f"cases_per_site names sites {sorted(counts)}; give a count for each "
                        f"of {names}")
    if (min(counts.values()) < 1 or seed < 0 or first_patient < 0
            or not 0.0 <= second_visit_fraction <= 1.0):
        raise DataError(
            f"cases_per_site={cases_per_site}, seed={seed}, first_patient={first_patient}, "
            f"second_visit_fraction={second_visit_fraction}: need cases_per_site >= 1, seed "
            "and first_patient >= 0 and a fraction in [0, 1]"
        )
    root = Path(out_dir).resolve()
    for folder in ("images", "labels", "landmarks"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    records, rows = [], []
    for site in sites:
        for patient_id, visit, rng, anatomy in _site_plan(site.name, counts[site.name], seed,
                                                           second_visit_fraction, first_patient):
            case = generate_case(rng, site, size, spatial_dims, anatomy=anatomy)
            case_id = f"{patient_id}-v{visit}"
            files = {"image": f"images/{case_id}.nii.gz", "label": f"labels/{case_id}.nii.gz",
                     "landmarks": f"landmarks/{case_id}.json"}
            atomic_write_bytes(root / files["image"], _nifti_bytes(case.image))
            atomic_write_bytes(root / files["label"], _nifti_bytes(case.label))
            atomic_write_bytes(root / files["landmarks"],
                          json.dumps(case.landmarks, indent=1).encode())
            rows.append({"case_id": case_id, **files, "site": site.name,
                         "patient_id": patient_id, "target": case.target, "visit": visit})
            records.append(CaseRecord(
                case_id=case_id, images=(str(root / files["image"]),),
                label=str(root / files["label"]), site=site.name, patient_id=patient_id,
                target=case.target, landmarks=str(root / files["landmarks"]),
                attributes={"visit": str(visit)},
            ))
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=_MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(root / "manifest.csv", text.getvalue().encode())
    return records


def _site_plan(site: str, n_cases: int, seed: int, second_visit_fraction: float,
               first_patient: int = 0,
               ) -> Iterator[tuple[str, int, np.random.Generator, KneeAnatomy]]:
    """(patient id, visit, case generator, anatomy) for each of a site's ``n_cases`` cases,
    patients numbered from ``first_patient``."""
    site_key = zlib.crc32(site.encode())
    done, number = 0, first_patient
    while done < n_cases:
        patient_rng = np.random.default_rng([seed, site_key, number])
        visits = [sample_anatomy(patient_rng)]
        if n_cases - done >= 2 and patient_rng.random() < second_visit_fraction:
            thinner = visits[0].femoral_cartilage_mm - patient_rng.uniform(0.0, 0.5)
            visits.append(replace(visits[0], femoral_cartilage_mm=max(thinner, 0.8)))
        for visit, anatomy in enumerate(visits, start=1):
            yield (f"{site}-p{number:03d}", visit,
                   np.random.default_rng([seed, site_key, number, visit]), anatomy)
        done += len(visits)
        number += 1


def _nifti_bytes(image: Image) -> bytes:
    """Gzipped NIfTI-1, affine diag(spacing, 1); no timestamp, so equal arrays give equal bytes."""
    affine = np.eye(4)
    affine[range(image.ndim), range(image.ndim)] = image.spacing
    affine[: image.ndim, 3] = image.origin
    nifti = nib.Nifti1Image(image.array, affine)
    nifti.header.set_xyzt_units("mm")
    return gzip.compress(nifti.to_bytes(), mtime=0)


class _Point(NamedTuple):
    u: float
    v: float


_ORIGIN = _Point(0.0, 0.0)


def _rotate(u, v, degrees: float, centre: _Point = _ORIGIN):
    """Rotate points about ``centre``; positive angles turn +u towards +v."""
    cos, sin = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    du, dv = u - centre.u, v - centre.v
    return centre.u + du * cos - dv * sin, centre.v + du * sin + dv * cos


def _box_sdf(u, v, centre: _Point, half_u: float, half_v: float, radius: float = 3.0):
    """Signed distance to a rounded axis-aligned box (negative inside)."""
    qu = np.abs(u - centre.u) - half_u + radius
    qv = np.abs(v - centre.v) - half_v + radius
    outside = np.hypot(np.maximum(qu, 0.0), np.maximum(qv, 0.0))
    return outside + np.minimum(np.maximum(qu, qv), 0.0) - radius


def _smooth_union(a, b, k: float):
    """Union of two signed distance fields with a fillet of size ``k`` where they meet."""
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b + (a - b) * h - k * h * (1.0 - h)


class _Knee:
    """The geometry of one knee in one pose, sampled on one grid."""

    def __init__(self, anatomy: KneeAnatomy, pose: KneePose, spacing: float, size: int):
        self.a, self.pose, self.spacing, self.size = anatomy, pose, spacing, size
        # Thin structures are drawn at least _MIN_BAND_PX wide so coarse grids keep them.
        self.tf = max(anatomy.femoral_cartilage_mm, _MIN_BAND_PX * spacing)
        self.tc = max(anatomy.tibial_cartilage_mm, _MIN_BAND_PX * spacing)
        self.gap = max(anatomy.joint_gap_mm, 0.5 * spacing)
        self.condyle = _Point(0.0, -(self.gap / 2 + self.tf + anatomy.condyle_radius_mm))
        self.plateau_top = self.gap / 2 + self.tc
        half_patella = anatomy.patella_thickness_mm / 2
        self.patella = _Point(
            -(anatomy.condyle_radius_mm + self.tf + _PATELLA_GAP_MM + half_patella),
            self.condyle.v - anatomy.patella_height_mm,
        )

    def _tibia_frame(self, u, v):
        # The tibia swings about the condyle centre, so flexion keeps the plateau tangent.
        return _rotate(u, v, self.pose.flexion_deg, self.condyle)

    def _patella_frame(self, u, v):
        # The patella follows the tibia (patellar tendon) half-way down the trochlea.
        pu, pv = _rotate(u, v, self.pose.flexion_deg / 2, self.condyle)
        return _rotate(pu, pv, self.a.patella_tilt_deg, self.patella)

    def _to_world(self, u: float, v: float) -> tuple[float, float]:
        x, y = _rotate(u, v, self.pose.rotation_deg)
        centre = (self.size - 1) / 2 * self.spacing
        return (centre + _JOINT_OFFSET_MM[0] + self.pose.shift_mm[0] + x,
                centre + _JOINT_OFFSET_MM[1] + self.pose.shift_mm[1] + y)

    @property
    def depth(self) -> int:
        """Slices of a 3D volume."""
        return self.size // _SLICE_THICKNESS_FACTOR

    def grid_spacing(self, spatial_dims: int) -> tuple[float, ...]:
        """Voxel spacing in mm per axis; 3D slices are thicker than the in-plane pixels."""
        thick = (self.spacing * _SLICE_THICKNESS_FACTOR,) if spatial_dims == 3 else ()
        return (self.spacing, self.spacing, *thick)

    def _grid(self, spatial_dims: int):
        """Knee-frame coordinates (u, v, w) of every voxel centre."""
        axis = np.arange(self.size) * self.spacing
        axes = [axis, axis]
        if spatial_dims == 3:
            thick = self.grid_spacing(3)[2]
            axes.append((np.arange(self.depth) - (self.depth - 1) / 2) * thick)
        coords = np.meshgrid(*axes, indexing="ij")
        x0, y0 = self._to_world(0.0, 0.0)
        u, v = _rotate(coords[0] - x0, coords[1] - y0, -self.pose.rotation_deg)
        return u, v, coords[2] if spatial_dims == 3 else 0.0

    def draw(self, spatial_dims: int) -> tuple[np.ndarray, np.ndarray]:
        """The label map (uint8, ``KNEE_CLASSES`` indices) and the tissue map."""
        a = self.a
        u, v, w = self._grid(spatial_dims)
        in_width = np.abs(w) <= _KNEE_HALF_WIDTH_MM
        r = a.condyle_radius_mm
        femur = _smooth_union(
            np.hypot(u - self.condyle.u, v - self.condyle.v) - r,
            _box_sdf(u, v, _Point(0.0, self.condyle.v - _BONE_LENGTH_MM / 2),
                     a.femur_shaft_mm / 2, _BONE_LENGTH_MM / 2),
            0.3 * r,
        )
        angle = np.degrees(np.arctan2(u - self.condyle.u, v - self.condyle.v))
        lo, hi = _FEMORAL_CARTILAGE_ARC_DEG
        femoral_cartilage = (femur > 0) & (femur <= self.tf) & (angle >= lo) & (angle <= hi)

        tu, tv = self._tibia_frame(u, v)
        top = self.plateau_top
        su, sv = _rotate(tu, tv, a.tibial_slope_deg, _Point(a.plateau_offset_mm, top))
        tibia = _smooth_union(
            _box_sdf(tu, tv, _Point(a.plateau_offset_mm, top + _PLATEAU_HEIGHT_MM / 2),
                     a.plateau_depth_mm / 2, _PLATEAU_HEIGHT_MM / 2),
            _box_sdf(su, sv, _Point(a.plateau_offset_mm, top + _BONE_LENGTH_MM / 2),
                     a.tibia_shaft_mm / 2, _BONE_LENGTH_MM / 2),
            6.0,
        )
        on_plateau = np.abs(tu - a.plateau_offset_mm) < a.plateau_depth_mm / 2 - 2.0
        tibial_cartilage = (tibia > 0) & (tibia <= self.tc) & (tv < top) & on_plateau

        pu, pv = self._patella_frame(u, v)
        half_t, half_l = a.patella_thickness_mm / 2, a.patella_length_mm / 2
        patella_q = np.sqrt(((pu - self.patella.u) / half_t) ** 2
                            + ((pv - self.patella.v) / half_l) ** 2
                            + (w / (0.6 * _KNEE_HALF_WIDTH_MM)) ** 2)

        shape = np.broadcast_shapes(np.shape(u), np.shape(w))
        labels = np.zeros(shape, dtype=np.uint8)
        tissues = np.full(shape, Tissue.SOFT, dtype=np.intp)
        fluid = (femur < self.tf + _FLUID_MARGIN_MM) & (tibia < self.tc + _FLUID_MARGIN_MM)
        tissues[fluid & on_plateau & in_width] = Tissue.FLUID
        parts = [
            (femur <= 0, 1, femur > -_CORTEX_MM),
            (tibia <= 0, 2, tibia > -_CORTEX_MM),
            (patella_q <= 1, 3, patella_q > 1 - _CORTEX_MM / half_t),
            (femoral_cartilage, 4, None),
            (tibial_cartilage, 5, None),
        ]
        for inside, label, cortex in parts:
            mask = inside & in_width
            labels[mask] = label
            tissues[mask] = Tissue.CARTILAGE if cortex is None else Tissue.MARROW
            if cortex is not None:
                tissues[mask & cortex] = Tissue.CORTEX
        return labels, tissues

    def landmarks(self, spatial_dims: int) -> dict[str, tuple[float, ...]]:
        """``KNEE_LANDMARKS`` in voxel index coordinates, rounded to 1/1000 voxel."""
        a = self.a
        apex = _rotate(self.patella.u, self.patella.v + a.patella_length_mm / 2,
                       -a.patella_tilt_deg, self.patella)
        knee_frame = {
            "femoral_condyle_distal": (self.condyle.u, self.condyle.v + a.condyle_radius_mm),
            "tibial_plateau_centre": _rotate(a.plateau_offset_mm, self.plateau_top,
                                             -self.pose.flexion_deg, self.condyle),
            "patella_centre": _rotate(*self.patella, -self.pose.flexion_deg / 2, self.condyle),
            "patella_apex": _rotate(*apex, -self.pose.flexion_deg / 2, self.condyle),
        }
        mid = ((self.depth - 1) / 2,) if spatial_dims == 3 else ()
        return {
            name: tuple(round(c / self.spacing, 3) for c in self._to_world(*p)) + mid
            for name, p in knee_frame.items()
        }
