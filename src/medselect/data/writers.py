"""Write an :class:`~medselect.data.image.Image` as NIfTI or PNG, atomically.

Used by the phantom generator and for prediction files. The file appears complete under its
name or not at all (:mod:`medselect.store.artifacts`), and equal images give equal bytes (no
timestamps), so content hashes of written files are stable. What :func:`read_image` reads back
equals what was written:

- NIfTI (``.nii``, ``.nii.gz``, 2D or 3D): the affine is ``direction @ diag(spacing)`` with
  ``origin`` as translation (RAS, as :mod:`readers`); float images as float32, label maps
  (integer or bool arrays) as the smallest of uint8/int16/int32 that holds them.
- PNG (2D only): label maps as 8-bit (values up to 255) or 16-bit (up to 65535) grayscale;
  images whose values are whole numbers in 0..65535 likewise; other float images as 16-bit with
  a linear rescale (precision: value range / 65535). Geometry and rescale go in a text chunk
  (:data:`readers.PNG_GEOMETRY_KEY`) that other tools ignore. Use NIfTI for exact floats.
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from medselect.data.image import Image
from medselect.data.readers import PNG_GEOMETRY_KEY, image_suffix
from medselect.errors import DataError
from medselect.store.artifacts import atomic_write_bytes

if TYPE_CHECKING:
    import nibabel as nib

__all__ = ["WRITE_SUFFIXES", "nifti_image", "write_image"]

WRITE_SUFFIXES = (".nii", ".nii.gz", ".png")


def write_image(image: Image, path: str | Path) -> Path:
    """Write ``image`` to ``path`` (format from the suffix); parent folders are created.

    Integer and bool arrays are written as label maps, float arrays as intensities.

    Raises:
        DataError: unsupported suffix, a 3D image to PNG, NaN/inf values, or label values that
            the format cannot hold.

    Example::

        write_image(Image(mask.astype(np.uint8), spacing=(0.4, 0.4)), "pred/case_001.png")
    """
    target = Path(path)
    suffix = image_suffix(target)
    if suffix not in WRITE_SUFFIXES:
        raise DataError(f"{target}: cannot write {suffix or 'a file without suffix'!r}; "
                        f"use one of {', '.join(WRITE_SUFFIXES)}")
    array = image.array
    is_label = np.issubdtype(array.dtype, np.integer) or array.dtype == bool
    if not is_label and not np.isfinite(array).all():
        raise DataError(f"{target}: image holds NaN or infinite values; replace them first")
    if suffix == ".png":
        if image.ndim != 2:
            raise DataError(f"{target}: PNG holds 2D images, got shape {image.shape}; "
                            "write 3D images as .nii.gz")
        data = _png_bytes(image, is_label, target)
    else:
        data = nifti_image(image, target).to_bytes()
        if suffix == ".nii.gz":
            data = gzip.compress(data, compresslevel=6, mtime=0)
    return atomic_write_bytes(target, data)


def _label_dtype(array: np.ndarray, target: Path, choices: tuple[type, ...]) -> type:
    low, high = (int(array.min()), int(array.max())) if array.size else (0, 0)
    for dtype in choices:
        info = np.iinfo(dtype)
        if info.min <= low and high <= info.max:
            return dtype
    names = "/".join(np.dtype(d).name for d in choices)
    raise DataError(f"{target}: label values {low}..{high} do not fit {names}; "
                    "renumber the classes")


def nifti_image(image: Image, target: str | Path = "<memory>") -> nib.Nifti1Image:
    """``image`` as a nibabel NIfTI image, as :func:`write_image` writes it (affine, dtype).

    ``target`` only names the destination in an error message.

    Raises:
        DataError: label values that int32 cannot hold.
    """
    import nibabel as nib

    array = image.array
    n = image.ndim
    affine = np.eye(4)
    affine[:n, :n] = np.reshape(image.direction, (n, n)) * np.asarray(image.spacing)
    affine[:n, 3] = image.origin
    if np.issubdtype(array.dtype, np.integer) or array.dtype == bool:
        data = array.astype(_label_dtype(array, Path(target), (np.uint8, np.int16, np.int32)))
    else:
        data = array.astype(np.float32)
    img = nib.Nifti1Image(data, affine)
    img.header.set_xyzt_units("mm")
    return img


def _png_bytes(image: Image, is_label: bool, target: Path) -> bytes:
    from PIL import Image as PILImage
    from PIL.PngImagePlugin import PngInfo

    array = image.array
    geometry: dict[str, object] = {"spacing": list(image.spacing), "origin": list(image.origin),
                                   "direction": list(image.direction)}
    if is_label:
        stored = array.astype(_label_dtype(array, target, (np.uint8, np.uint16)))
    elif array.min() >= 0 and array.max() <= 65535 and np.all(array == np.round(array)):
        stored = array.astype(np.uint8 if array.max() <= 255 else np.uint16)
    else:  # a float image: 16-bit with the rescale that brings it back
        low, high = float(array.min()), float(array.max())
        slope = (high - low) / 65535 or 1.0
        stored = np.round((array - low) / slope).astype(np.uint16)
        geometry.update(slope=slope, intercept=low)
    info = PngInfo()
    info.add_text(PNG_GEOMETRY_KEY, json.dumps(geometry))
    picture = PILImage.fromarray(np.ascontiguousarray(stored.T))  # x, y -> rows, columns
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()
