"""Overlay images for expert review: reference contours in green, prediction contours in red.

Pure functions, arrays in and PIL images (or PNG files) out, called for every case x model.

Display convention: arrays use the project's axis order (x, y[, z]); a PNG shows x across and y
down, so a slice is transposed for display (row = y). The grey image is window/levelled to the
1st-99th percentile and upscaled with nearest neighbours, each pixel stretched by its spacing so
physical proportions hold. Contours are not upscaled masks: they are sub-pixel iso-lines at 0.5
of each class's binary mask (``skimage.measure.find_contours``), drawn at display resolution.
Landmark points are in mm in the voxel frame (index x spacing), as :mod:`medselect.metrics`
takes them. An image-level (classification) model's saliency map is blended over the image as a
translucent heat map: clear where a pixel hardly moved the predicted class, turning red, then
yellow where it moved it most (:mod:`medselect.evaluate.saliency`).

Example::

    >>> overlay = render_overlay(image, reference=ref, prediction=pred, spacing=(0.5, 0.5),
    ...                          classes=["femur", "tibia"], metrics={"dice": 0.91},
    ...                          title="case-007 / unet-a")
    >>> save_png(thumbnail(overlay), "thumbs/case-007.png")
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from skimage.measure import find_contours

from medselect.errors import DataError
from medselect.evaluate import overlay_margin as margin
from medselect.evaluate import overlay_style as style
from medselect.evaluate.overlay_margin import VIEW_BOX, format_metric
from medselect.metrics.geometry import check_spacing

__all__ = [
    "VIEW_BOX",
    "format_metric",
    "intensity_window",
    "render_overlay",
    "render_volume_overlays",
    "save_png",
    "thumbnail",
]

DISPLAY_SIDE = 512
"""Default display size: the smallest integer scale that makes the longer side of the image
part at least this many pixels (a 64 x 64 case is shown 512 pixels wide, 96 x 96 at 576), so a
reader sees contours and voxels without zooming."""
THUMBNAIL_SIDE = 160

_WINDOW_SAMPLES = 1 << 20  # voxels sampled for the percentile window of large volumes

Points = Mapping[str, Sequence[float] | None]


def render_overlay(
    image: np.ndarray,
    *,
    reference: np.ndarray | None,
    prediction: np.ndarray | None,
    spacing: Sequence[float] | float,
    classes: Sequence[str],
    metrics: Mapping[str, float] | None = None,
    title: str = "",
    landmarks_ref: Points | None = None,
    landmarks_pred: Points | None = None,
    scale: int | None = None,
    window: tuple[float, float] | None = None,
    saliency: np.ndarray | None = None,
) -> Image.Image:
    """Render one 2D case: grey image, contours, landmarks, a legend and the case's metrics.

    Args:
        image: intensities, shape (x, y).
        reference, prediction: label maps of the image's shape (0 background, ``classes[i]``
            is label ``i + 1``), or None when absent; a missing reference is said in the legend.
        spacing: pixel size in mm along x and y (or one number).
        classes: names of the foreground classes; class ``i`` gets line style ``i``.
        metrics: metric name -> value, listed in the margin in the given order (units from
            :data:`medselect.metrics.METRICS` when the name starts with a known metric).
        title: shown above the image, e.g. ``"case-007 / unet-a"``.
        landmarks_ref, landmarks_pred: name -> (x, y) in mm (index x spacing); None or NaN
            is absent. A pair present on both sides is joined by a yellow error line.
        scale: display pixels per pixel along the finer axis; by default the longer side
            is at least :data:`DISPLAY_SIDE` pixels (never shrunk).
        window: (low, high) grey window; by default :func:`intensity_window` of ``image``.
        saliency: a map of the image's shape in [0, 1] (values outside are clipped), drawn as
            a heat map over the image; None draws none.

    Raises:
        DataError: ``image`` is not 2D, a label map or the saliency map does not match it, a
            label map holds labels outside ``0..len(classes)``, or ``spacing`` is not two
            positive numbers.
    """
    array = np.asarray(image)
    if array.ndim != 2:
        raise DataError(f"render_overlay needs a 2D image of shape (x, y), got shape "
                        f"{array.shape}; use render_volume_overlays for 3D")
    return _render(array, _check_labels(reference, array.shape, classes, "reference"),
                   _check_labels(prediction, array.shape, classes, "prediction"),
                   check_spacing(spacing, 2), classes, metrics=metrics, title=title,
                   landmarks=(landmarks_ref, landmarks_pred), scale=scale,
                   window=window or intensity_window(array), metric_ndim=2,
                   heat=_check_saliency(saliency, array.shape))


def render_volume_overlays(
    image: np.ndarray,
    reference: np.ndarray | None,
    prediction: np.ndarray | None,
    spacing: Sequence[float] | float,
    classes: Sequence[str],
    *,
    metrics: Mapping[str, float] | None = None,
    title: str = "",
    scale: int | None = None,
    saliency: np.ndarray | None = None,
) -> list[tuple[str, Image.Image]]:
    """Overlays of the telling slices of a 3D case, sliced across the last axis (z).

    The slices are the one with the largest reference area and the one where prediction and
    reference disagree most (label maps differ, which is pred XOR ref for one class). Without
    a reference, the slice with the largest prediction area; with neither mask or no area at
    all, the slice where the ``saliency`` map is largest in sum (an image-level model), else
    the middle slice. One slice that is both is rendered once with both reasons in its
    name, e.g. ``"z=12 (largest reference, largest disagreement)"``. Every slice shares one
    grey window (of the whole volume) and shows the case-level ``metrics``. Landmarks are not
    drawn on 3D cases.

    Raises:
        DataError: as :func:`render_overlay`, for a 3D image of shape (x, y, z).
    """
    volume = np.asarray(image)
    if volume.ndim != 3:
        raise DataError(f"render_volume_overlays needs a 3D image of shape (x, y, z), got "
                        f"shape {volume.shape}; use render_overlay for 2D")
    ref = _check_labels(reference, volume.shape, classes, "reference")
    pred = _check_labels(prediction, volume.shape, classes, "prediction")
    heat = _check_saliency(saliency, volume.shape)
    in_plane = check_spacing(spacing, 3)[:2]
    window = intensity_window(volume)
    overlays = []
    for z, reasons in _telling_slices(ref, pred, volume.shape[2], heat):
        name = f"z={z} ({', '.join(reasons)})"
        overlays.append((name, _render(
            volume[:, :, z], None if ref is None else ref[:, :, z],
            None if pred is None else pred[:, :, z], in_plane, classes, metrics=metrics,
            title=f"{title} · {name}" if title else name, landmarks=(None, None),
            scale=scale, window=window, metric_ndim=3,
            heat=None if heat is None else heat[:, :, z],
        )))
    return overlays


def intensity_window(image: np.ndarray) -> tuple[float, float]:
    """The 1st and 99th percentiles of the finite values (min/max if they coincide).

    Large volumes are sampled evenly (about a million voxels) to keep this fast.
    """
    flat = np.asarray(image, dtype=np.float32).ravel()
    flat = flat[:: max(1, flat.size // _WINDOW_SAMPLES)]
    flat = flat[np.isfinite(flat)]
    if flat.size == 0:
        return 0.0, 1.0
    low, high = np.percentile(flat, (1.0, 99.0))
    if high <= low:
        low, high = flat.min(), flat.max()
    return float(low), float(high)


def thumbnail(img: Image.Image, max_side: int = THUMBNAIL_SIDE) -> Image.Image:
    """A copy of ``img`` whose longer side is at most ``max_side`` pixels (never enlarged).

    An overlay from this module is cut to its image part first (the box in
    ``img.info[VIEW_BOX]``): title, legend and metrics cannot be read at thumbnail size, and a
    gallery shows them as text beside the thumbnail.
    """
    if max_side < 1:
        raise ValueError(f"max_side must be a positive number of pixels, got {max_side}")
    box = img.info.get(VIEW_BOX)
    small = img.crop(box) if box else img.copy()
    small.thumbnail((max_side, max_side), Image.Resampling.BICUBIC)
    return small


def save_png(img: Image.Image, path: str | os.PathLike[str]) -> Path:
    """Write ``img`` as PNG atomically: a temp file in the same folder, then ``os.replace``.

    Readers never see a half-written file; the folder is created if missing. Compression is
    light and ``optimize`` off, for speed (overlays are written for every case x model).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A unique name opened exclusively (not mkstemp, whose 0600 mode would stay on the file).
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with open(tmp, "xb") as file:
            img.save(file, format="PNG", optimize=False, compress_level=1)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


@dataclass(frozen=True)
class _Display:
    """Maps voxel coordinates of a (x, y) slice to display pixels."""

    width: int
    height: int
    per_voxel: tuple[float, float]  # display pixels per voxel along x and y

    @classmethod
    def fit(cls, shape: tuple[int, ...], spacing: tuple[float, ...], scale: int | None) -> _Display:
        finest = min(spacing)
        extent = [n * s / finest for n, s in zip(shape, spacing, strict=True)]
        if scale is None:
            scale = max(1, math.ceil(DISPLAY_SIDE / max(extent)))
        elif scale < 1:
            raise ValueError(f"scale must be a positive integer, got {scale}")
        width, height = (max(1, round(e * scale)) for e in extent)
        return cls(width, height, (width / shape[0], height / shape[1]))

    def to_display(self, xy: np.ndarray) -> np.ndarray:
        """Voxel (x, y) positions, voxel centres at integers, to PIL (column, row)."""
        return (xy + 0.5) * self.per_voxel - 0.5


def _render(
    array: np.ndarray,
    ref: np.ndarray | None,
    pred: np.ndarray | None,
    spacing: tuple[float, ...],
    classes: Sequence[str],
    *,
    metrics: Mapping[str, float] | None,
    title: str,
    landmarks: tuple[Points | None, Points | None],
    scale: int | None,
    window: tuple[float, float],
    metric_ndim: int,
    heat: np.ndarray | None = None,
) -> Image.Image:
    display = _Display.fit(array.shape, spacing, scale)
    view = _grey(array, window).resize((display.width, display.height), Image.Resampling.NEAREST)
    view = view.convert("RGB")
    if heat is not None:
        view = _with_heat(view, heat)
    draw = ImageDraw.Draw(view)
    pen = style.Pen.for_display(max(display.width, display.height))
    for labels, colour, width in ((ref, style.REFERENCE_COLOUR, pen.reference_width),
                                  (pred, style.PREDICTION_COLOUR, pen.width)):
        for index in range(len(classes)) if labels is not None else ():
            points, sizes = _contours(labels, index + 1, display)
            style.draw_polylines(draw, points, sizes, colour, width, style.class_style(index),
                                 pen.dash_unit)
    drawn = _draw_landmarks(draw, display, *landmarks, spacing=spacing, pen=pen)
    points = drawn if landmarks != (None, None) else None
    image_level = heat is not None and not classes and points is None  # no contour rows
    legend = [] if image_level else margin.legend_rows(classes, ref is not None,
                                                       pred is not None, points)
    legend += margin.saliency_rows() if heat is not None else []
    return margin.compose(view, title, legend, margin.metric_rows(metrics or {}, metric_ndim),
                          pen)


def _grey(array: np.ndarray, window: tuple[float, float]) -> Image.Image:
    low, high = window
    values = np.nan_to_num(array.astype(np.float32, copy=False), nan=low)
    span = high - low if high > low else 1.0
    grey = np.clip((values - low) * (255.0 / span), 0.0, 255.0).astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(grey.T))  # rows are y


def _with_heat(view: Image.Image, heat: np.ndarray) -> Image.Image:
    """``view`` with the (x, y) ``heat`` map blended over it, upscaled smoothly to its size."""
    values = Image.fromarray(np.ascontiguousarray(heat.T, dtype=np.float32))  # rows are y
    values = np.asarray(values.resize(view.size, Image.Resampling.BILINEAR))
    colours, alpha = style.heat_colours(values)
    base = np.asarray(view, dtype=np.float32)
    blended = base + alpha[..., None] * (colours - base)
    return Image.fromarray(np.clip(blended.round(), 0, 255).astype(np.uint8))


def _contours(
    labels: np.ndarray, value: int, display: _Display
) -> tuple[np.ndarray, list[int]]:
    """Sub-pixel contours of ``labels == value``, all closed, in display coordinates.

    Returns every contour's points one after another (n, 2) and each contour's number of
    points, the form :func:`overlay_style.draw_polylines` takes: a ragged prediction has
    hundreds of contour pieces, mapped to the display together.
    """
    mask = labels == value
    pieces = find_contours(np.pad(mask, 1).astype(np.float32), 0.5) if mask.any() else []
    if not pieces:  # padding above closes contours that touch the border
        return np.empty((0, 2)), []
    return display.to_display(np.concatenate(pieces) - 1.0), [len(p) for p in pieces]


def _draw_landmarks(
    draw: ImageDraw.ImageDraw,
    display: _Display,
    ref: Points | None,
    pred: Points | None,
    *,
    spacing: tuple[float, ...],
    pen: style.Pen,
) -> tuple[bool, bool]:
    """Draw error lines, then reference discs and predicted crosses; whether any reference and
    any predicted point was drawn."""
    ref_xy, pred_xy = (_landmark_pixels(p or {}, display, spacing) for p in (ref, pred))
    for name in ref_xy.keys() & pred_xy.keys():
        draw.line((*ref_xy[name], *pred_xy[name]), fill=style.ERROR_LINE_COLOUR, width=1)
    for x, y in ref_xy.values():
        style.draw_reference_marker(draw, x, y, pen)
    for x, y in pred_xy.values():
        style.draw_prediction_marker(draw, x, y, pen)
    return bool(ref_xy), bool(pred_xy)


def _landmark_pixels(
    points: Points, display: _Display, spacing: tuple[float, ...]
) -> dict[str, tuple[float, float]]:
    out = {}
    for name, point in points.items():
        if point is None:
            continue
        mm = np.asarray(point, dtype=float)
        if mm.shape != (2,):
            raise DataError(f"landmark {name!r} is {tuple(mm)}; a 2D overlay needs (x, y) in mm")
        if np.isfinite(mm).all():
            out[name] = tuple(display.to_display(mm / np.asarray(spacing)).tolist())
    return out


def _telling_slices(
    ref: np.ndarray | None, pred: np.ndarray | None, depth: int, heat: np.ndarray | None = None
) -> list[tuple[int, list[str]]]:
    """(z, reasons) of the slices worth showing, see :func:`render_volume_overlays`."""
    picks: dict[int, list[str]] = {}

    def pick(per_slice: np.ndarray, reason: str) -> None:
        if per_slice.max() > 0:
            picks.setdefault(int(np.argmax(per_slice)), []).append(reason)

    if ref is not None:
        pick(np.count_nonzero(ref, axis=(0, 1)), "largest reference")
    if not picks and pred is not None:
        pick(np.count_nonzero(pred, axis=(0, 1)), "largest prediction")
    if ref is not None and pred is not None:
        pick(np.count_nonzero(ref != pred, axis=(0, 1)), "largest disagreement")
    if not picks and heat is not None:
        pick(heat.sum(axis=(0, 1)), "most salient")
    return list(picks.items()) or [(depth // 2, ["middle"])]


def _check_saliency(saliency: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray | None:
    """``saliency`` as float32 of ``shape`` clipped to [0, 1] (NaN as 0), or None."""
    if saliency is None:
        return None
    array = np.asarray(saliency, dtype=np.float32)
    if array.shape != shape:
        raise DataError(f"the saliency map has shape {array.shape} but the image has {shape}; "
                        f"give a map of the image's shape")
    return np.clip(np.nan_to_num(array, nan=0.0), 0.0, 1.0)


def _check_labels(
    labels: np.ndarray | None, shape: tuple[int, ...], classes: Sequence[str], role: str
) -> np.ndarray | None:
    """``labels`` as an integer array of ``shape`` with values in ``0..len(classes)``."""
    if labels is None:
        return None
    array = np.asarray(labels)
    if array.shape != shape:
        raise DataError(f"the {role} label map has shape {array.shape} but the image has "
                        f"{shape}; give a label map of the image's shape")
    if not (np.issubdtype(array.dtype, np.integer) or array.dtype == bool):
        rounded = np.rint(array)
        if not np.array_equal(rounded, array):
            raise DataError(f"the {role} label map holds non-integer values; give integer "
                            f"labels (0 background, class i as i + 1)")
        array = rounded.astype(np.int32)
    if array.size and (array.min() < 0 or array.max() > len(classes)):
        raise DataError(f"the {role} label map holds labels {int(array.min())} to "
                        f"{int(array.max())}, but classes {list(classes)} allow only 0 "
                        f"(background) to {len(classes)}; name every class in 'classes'")
    return array
