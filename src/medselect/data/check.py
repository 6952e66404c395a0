"""Read every case of a dataset once and list every problem, not only the first.

A dataset that passes can be trained and evaluated without a file-level surprise: every file
reads, intensities are finite, a case's channels and label share one grid (shape, and spacing
within 0.1%), label values are class indices, and landmarks lie inside the image. Each check
is a pure function of one case, so callers may run :func:`check_case` in parallel or with a
progress bar; :func:`check_dataset` runs them in turn and adds the dataset-wide checks.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from medselect.data.case import CaseRecord
from medselect.data.image import Image
from medselect.data.readers import ImageKind, read_image
from medselect.errors import DatasetInvalid, ImageReadError, Problem

__all__ = ["SPACING_RTOL", "check_case", "check_dataset", "require_valid"]

SPACING_RTOL = 1e-3
"""Relative tolerance within which two spacings count as equal (headers round differently)."""

_Report = Callable[[str, str | None], None]  # (message, file)


def check_dataset(records: Iterable[CaseRecord], classes: Sequence[str] | None = None, *,
                  spatial_dims: int | None = None, max_voxels: int | None = None
                  ) -> list[Problem]:
    """Every problem of the dataset (an empty list when it is fine).

    Args:
        records: the cases; each file is read once.
        classes: class names by label value (``classes[0]`` the background); None skips the
            label-value and target checks.
        spatial_dims: 2 or 3 to require that dimensionality; None accepts either.
        max_voxels: a file whose header declares more voxels is a problem, found before its
            pixels are read; default :data:`medselect.data.readers.MAX_VOXELS`.
    """
    records = list(records)
    if not records:
        return [Problem("dataset holds no cases; add cases to the manifest or folder")]
    counts = Counter(r.case_id for r in records)
    problems = [Problem(f"case id appears {n} times; case ids must be unique", case_id=case_id)
                for case_id, n in counts.items() if n > 1]
    for record in records:
        problems += check_case(record, classes, spatial_dims=spatial_dims, max_voxels=max_voxels)
    return problems


def require_valid(records: Iterable[CaseRecord], classes: Sequence[str] | None = None, *,
                  spatial_dims: int | None = None, source: str = "dataset") -> None:
    """Raise :class:`DatasetInvalid` listing every problem :func:`check_dataset` finds.

    Args:
        source: what the records came from (a manifest path, an nnU-Net folder), for the
            message.
    """
    problems = check_dataset(records, classes, spatial_dims=spatial_dims)
    if problems:
        raise DatasetInvalid(problems, source=source)


def check_case(record: CaseRecord, classes: Sequence[str] | None = None, *,
               spatial_dims: int | None = None, max_voxels: int | None = None) -> list[Problem]:
    """The problems of one case; its files are read once (``max_voxels``: see
    :func:`check_dataset`)."""
    problems: list[Problem] = []

    def report(message: str, file: str | None) -> None:
        problems.append(Problem(message, case_id=record.case_id, file=file))

    channels = [(index, path, image) for index, path in enumerate(record.images)
                if (image := _read(path, "image", report, max_voxels)) is not None]
    grid = channels[0][1:] if channels else None  # (path, image) of the first readable channel
    for _, path, image in channels:
        _check_dims(image, spatial_dims, path, report)
    for index, path, image in channels[1:]:
        _check_same_grid(image, grid, f"channel {index}", path, report)
    label = _read(record.label, "label", report, max_voxels) if record.label else None
    if label is not None:
        if grid is None:
            _check_dims(label, spatial_dims, record.label, report)
        else:
            _check_same_grid(label, grid, "label", record.label, report)
        if classes is not None:
            _check_label_values(label, classes, record.label, report)
    if classes is not None and record.target is not None \
            and not 0 <= record.target < len(classes):
        report(f"target {record.target} is not a class index 0..{len(classes) - 1} "
               f"({len(classes)} classes)", None)
    if record.landmarks:
        reference = grid[1] if grid else label
        _check_landmarks(record.landmarks, reference.shape if reference else None, spatial_dims,
                         report)
    return problems


def _read(path: str, kind: ImageKind, report: _Report, max_voxels: int | None) -> Image | None:
    try:
        return read_image(path, kind=kind, max_voxels=max_voxels)
    except ImageReadError as exc:  # its message is "<file>: <reason>"
        report(str(exc).removeprefix(f"{Path(path)}: "), path)
        return None


def _check_dims(image: Image, spatial_dims: int | None, path: str, report: _Report) -> None:
    if spatial_dims is not None and image.ndim != spatial_dims:
        report(f"{image.ndim}D image of shape {image.shape}, but the task is {spatial_dims}D; "
               "check the task's spatial dims or the file", path)


def _check_same_grid(image: Image, grid: tuple[str, Image], what: str, path: str,
                     report: _Report) -> None:
    """``image`` must have the shape and spacing of the case's first channel."""
    first_path, first = grid
    if image.shape != first.shape:
        report(f"{what} shape {image.shape} differs from image shape {first.shape} "
               f"({first_path}); resample it onto the image grid", path)
    elif not np.allclose(image.spacing, first.spacing, rtol=SPACING_RTOL, atol=0):
        report(f"{what} spacing {_mm(image.spacing)} differs from image spacing "
               f"{_mm(first.spacing)} ({first_path}); resample it onto the image grid", path)


def _check_label_values(label: Image, classes: Sequence[str], path: str,
                        report: _Report) -> None:
    values = np.unique(label.array)
    bad = values[(values < 0) | (values >= len(classes))]
    if bad.size:
        shown = ", ".join(str(v) for v in bad[:10]) + (", ..." if bad.size > 10 else "")
        report(f"label values {shown} are outside 0..{len(classes) - 1} ({len(classes)} "
               f"classes: {', '.join(classes)}); fix the classes or the label map", path)


def _check_landmarks(path: str, shape: tuple[int, ...] | None, spatial_dims: int | None,
                     report: _Report) -> None:
    """``{"name": [x, y(, z)]}`` in voxel index coordinates, inside the image."""
    try:
        points = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        report("landmarks file does not exist; check the path", path)
        return
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        report(f"landmarks file is not valid JSON ({exc}); fix it", path)
        return
    ndim = len(shape) if shape else spatial_dims
    expected = 'an object {"name": [x, y(, z)], ...} in voxel coordinates'
    if not isinstance(points, dict) or not points:
        report(f"landmarks file must hold {expected}, got {type(points).__name__}", path)
        return
    for name, point in points.items():
        if not (isinstance(point, list) and len(point) in ((ndim,) if ndim else (2, 3))
                and all(_is_number(c) for c in point)):
            report(f"landmark {name!r} is {point!r}; landmarks must be {expected} with "
                   f"{ndim or '2 or 3'} numbers each", path)
            return
    if shape is None:
        return
    outside = [name for name, point in points.items()
               if any(not -0.5 <= c <= size - 0.5 for c, size in zip(point, shape, strict=True))]
    if outside:
        report(f"landmarks {', '.join(map(repr, outside))} lie outside the image of shape "
               f"{shape} (voxel coordinates x, y(, z)); check their axis order and units", path)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and \
        math.isfinite(value)


def _mm(spacing: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{s:g}" for s in spacing) + ") mm"
