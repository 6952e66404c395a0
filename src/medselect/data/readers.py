"""Read any supported image file into an :class:`~medselect.data.image.Image`.

One entry point, :func:`read_image`, picks the library from the suffix (or, for a file without a
known suffix, from its first bytes):

=====================================  ======================================================
NIfTI ``.nii``, ``.nii.gz``             nibabel: spacing from the header zooms, geometry from
                                        the affine
NRRD ``.nrrd``/``.nhdr``, MetaImage     SimpleITK
``.mha``/``.mhd``, a DICOM series
(a folder)
one DICOM file ``.dcm``                 pydicom: PixelSpacing, rescale slope/intercept applied
PNG                                     Pillow: spacing 1.0 unless written by :mod:`writers`
TIFF ``.tif``/``.tiff``                 tifffile: spacing from the resolution tags if in a
                                        physical unit, else 1.0
=====================================  ======================================================

A volume one slice thick, shape (x, y, 1), is a 2D image: that is how nnU-Net stores 2D data
as NIfTI. Before any pixel array is allocated, the size the header declares is checked against
a limit (:data:`MAX_VOXELS`, or the ``max_voxels`` argument), so a corrupt or hostile header
claiming 32767^3 voxels is refused with a message instead of exhausting memory.

World coordinates are RAS, as in nibabel and MONAI: geometry read through ITK (which is LPS)
has its first two world axes negated, so a DICOM series and its NIfTI conversion agree. A
single DICOM file, PNG and TIFF carry no patient frame: origin 0, identity direction.

Every failure raises :class:`~medselect.errors.ImageReadError` whose message reads
``"<file>: <what was wrong>; <what to do>"``. Nothing here unpickles anything.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from medselect.data.image import Image
from medselect.errors import ImageReadError

if TYPE_CHECKING:
    import SimpleITK as sitk

__all__ = ["IMAGE_SUFFIXES", "MAX_VOXELS", "PNG_GEOMETRY_KEY", "ImageKind", "dicom_series_files",
           "image_suffix", "read_image"]

ImageKind = Literal["image", "label"]
_KINDS = ("image", "label")

# PNG text chunk holding {"spacing", "origin", "direction"[, "slope", "intercept"]} as JSON.
PNG_GEOMETRY_KEY = "medselect-geometry"

MAX_VOXELS = int(os.environ.get("MEDSELECT_MAX_VOXELS", 2**30))
"""Most voxels (times channels) one file may declare: 2^30 is 4 GiB as float32, beyond any
scan medselect can train on in memory; ``MEDSELECT_MAX_VOXELS`` raises it."""

_LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R 601-2, as Pillow's "L" conversion
_TIFF_MM_PER_UNIT = {2: 25.4, 3: 10.0, 4: 1.0, 5: 1e-3}  # RESUNIT inch, cm, mm, micrometre
_HELP_FORMATS = ("use NIfTI (.nii, .nii.gz), NRRD (.nrrd, .nhdr), MetaImage (.mha, .mhd), "
                 "DICOM (.dcm, or a folder holding one series), PNG or TIFF")


@dataclass(frozen=True)
class _Raw:
    """What a format reader found: array in x, y[, z] order (a trailing colour axis if RGB)."""

    array: np.ndarray
    spacing: tuple[float, ...]
    origin: tuple[float, ...] = ()
    direction: tuple[float, ...] = ()
    colour: bool = False


def read_image(path: str | Path, *, kind: ImageKind = "image",
               max_voxels: int | None = None) -> Image:
    """Read one image or label map.

    Args:
        path: a file, or a folder holding one DICOM series.
        kind: ``"image"`` returns float32 intensities (RGB becomes luminance); ``"label"``
            returns an integer class map (uint8 when values fit, else int32).
        max_voxels: refuse a file whose header declares more voxels (times channels) than
            this, before reading its pixels; default :data:`MAX_VOXELS`.

    Raises:
        ImageReadError: missing file, unknown format, a header declaring more than
            ``max_voxels``, truncated or corrupt file, NaN/inf in an image, non-integer values
            in a label map, or an array that is not 2D or 3D.

    Example::

        image = read_image("case_001_0000.nii.gz")
        label = read_image("case_001.nii.gz", kind="label")
    """
    if kind not in _KINDS:
        raise ValueError(f"The 'kind' parameter must be one of {_KINDS}. Got {kind!r} instead.")
    file = Path(path)
    if not file.exists():
        raise ImageReadError(f"{file}: file does not exist; check the path (a manifest's "
                             "relative paths resolve against the manifest's folder)")
    fmt, reader = _reader_for(file)
    limit = (_Limit(file, MAX_VOXELS, " (set MEDSELECT_MAX_VOXELS to read larger files)")
             if max_voxels is None else _Limit(file, max_voxels))
    try:
        raw = reader(file, kind, limit)
    except ImageReadError:
        raise
    except MemoryError as exc:
        raise ImageReadError(f"{file}: too large to read into this machine's memory; crop or "
                             "downsample it") from exc
    except Exception as exc:  # decoders raise anything: OSError, EOFError, zlib, RuntimeError...
        raise ImageReadError(
            f"{file}: cannot be read as {fmt} ({_brief(exc)}); the file may be truncated or "
            "corrupt: export or copy it again"
        ) from exc
    return _finish(raw, file, kind)


def image_suffix(path: str | Path) -> str:
    """The lower-case suffix that picks a format, ``.nii.gz`` counted as one suffix."""
    name = Path(path).name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else Path(name).suffix


@dataclass(frozen=True)
class _Limit:
    """The voxel budget of one file, checked against its header before pixels are read."""

    file: Path
    max_voxels: int
    how_to_raise: str = ""
    """Said at the end of the message; empty when the caller chose the limit."""

    def check(self, shape: tuple[int, ...] | list[int]) -> None:
        voxels = math.prod(int(n) for n in shape)
        if voxels > self.max_voxels:
            raise ImageReadError(
                f"{self.file}: header declares shape {tuple(int(n) for n in shape)}, "
                f"{voxels:,} voxels, more than the limit of {self.max_voxels:,}; the header is "
                f"corrupt or the file is not a single scan{self.how_to_raise}")


_Reader = Callable[[Path, str, _Limit], _Raw]


def _reader_for(file: Path) -> tuple[str, _Reader]:
    if file.is_dir():
        return "DICOM series", _read_dicom_series
    suffix = image_suffix(file)
    if suffix in _BY_SUFFIX:
        return _BY_SUFFIX[suffix]
    try:
        with open(file, "rb") as handle:
            head = handle.read(132)
    except OSError as exc:
        raise ImageReadError(f"{file}: cannot be opened ({exc.strerror}); check its "
                             "permissions") from exc
    if head[128:132] == b"DICM":
        return _BY_SUFFIX[".dcm"]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return _BY_SUFFIX[".png"]
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return _BY_SUFFIX[".tif"]
    raise ImageReadError(f"{file}: unknown image format {suffix or '(no suffix)'!r}; "
                         f"{_HELP_FORMATS}")


def _finish(raw: _Raw, file: Path, kind: str) -> Image:
    """Common checks and dtype for every format."""
    array = raw.array
    if raw.colour:
        if kind == "label":
            raise ImageReadError(f"{file}: label map is a colour (RGB) image; save labels as "
                                 "single-channel class indices (grayscale or palette)")
        array = array[..., :3].astype(np.float64) @ _LUMA
    while array.ndim > 3 and array.shape[-1] == 1:  # (x, y, z, 1) stored as 4D
        array = array[..., 0]
    if array.ndim == 3 and array.shape[2] == 1:  # one slice thick: nnU-Net's 2D NIfTI
        array = array[..., 0]
    if array.ndim not in (2, 3) or array.size == 0:
        raise ImageReadError(
            f"{file}: array of shape {tuple(array.shape)} is not a 2D or 3D single-channel "
            "image; store one channel per file (nnU-Net style _0000, _0001, ...)"
        )
    n = array.ndim
    spacing = tuple(float(s) for s in raw.spacing[:n])
    if len(spacing) != n or not all(math.isfinite(s) and s > 0 for s in spacing):
        raise ImageReadError(f"{file}: voxel spacing {spacing} is not positive; fix the "
                             "file's header (pixel size in mm)")
    if kind == "label":
        array = _as_label(array, file)
    else:
        array = np.ascontiguousarray(array, dtype=np.float32)
        bad = array.size - int(np.count_nonzero(np.isfinite(array)))
        if bad:
            raise ImageReadError(f"{file}: image holds {bad} NaN or infinite values; replace "
                                 "them (for example with 0) before importing")
    origin = tuple(float(v) for v in raw.origin[:n])
    direction = ()
    if raw.direction:
        k = math.isqrt(len(raw.direction))
        direction = tuple(np.reshape(raw.direction, (k, k))[:n, :n].ravel().tolist())
    return Image(array, spacing, origin, direction, source=str(file))


def _as_label(array: np.ndarray, file: Path) -> np.ndarray:
    if not (np.issubdtype(array.dtype, np.integer) or array.dtype == bool):
        fractional = ~np.isfinite(array) | (array != np.round(array))
        if fractional.any():
            examples = ", ".join(f"{v:g}" for v in np.unique(array[fractional])[:3])
            raise ImageReadError(
                f"{file}: label map holds non-integer values such as {examples}; a label map "
                "holds class indices: check it is a label file and was not resampled with "
                "linear interpolation"
            )
    low, high = array.min(), array.max()
    if low >= 0 and high <= 255:
        return np.ascontiguousarray(array, dtype=np.uint8)
    if np.iinfo(np.int32).min <= low and high <= np.iinfo(np.int32).max:
        return np.ascontiguousarray(array, dtype=np.int32)
    raise ImageReadError(f"{file}: label values {low}..{high} do not fit 32-bit integers; "
                         "renumber the classes")


def _brief(exc: Exception) -> str:
    """One line of a library's message; ITK's carry a C++ source location first."""
    text = str(exc).split("ITK ERROR:", 1)[-1]
    text = " ".join(text.split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "…"


def _to_xyz(array: np.ndarray, colour: bool) -> np.ndarray:
    """Reverse the spatial axes of a row-major array ((z,) y, x) to x, y(, z); a trailing colour
    axis stays last."""
    spatial = array.ndim - int(colour)
    return array.transpose((*reversed(range(spatial)), *range(spatial, array.ndim)))


def _read_nifti(file: Path, kind: str, limit: _Limit) -> _Raw:
    import nibabel as nib

    img = nib.load(file, mmap=False)
    limit.check(img.header.get_data_shape())
    array = np.asanyarray(img.dataobj)
    ndim = min(array.ndim, 3)
    zooms = np.asarray(img.header.get_zooms()[:ndim], dtype=np.float64)
    linear = np.asarray(img.affine, dtype=np.float64)[:ndim, :ndim]
    direction = linear / np.where(zooms > 0, zooms, 1.0)  # column j: direction of axis j
    return _Raw(array, tuple(zooms), tuple(img.affine[:ndim, 3]), tuple(direction.ravel()))


def _read_itk(file: Path, kind: str, limit: _Limit) -> _Raw:
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(file))
    reader.ReadImageInformation()
    limit.check([*reader.GetSize(), reader.GetNumberOfComponents()])
    return _from_itk(reader.Execute(), file)


def dicom_series_files(folder: str | Path) -> list[str]:
    """The slice files of the one DICOM series in ``folder``, in the order the read image's
    last axis runs (GDCM's, by position along the slice normal): slice ``k`` of the array
    :func:`read_image` gives is file ``k``.

    Raises:
        ImageReadError: the folder holds no DICOM series, or several.
    """
    import SimpleITK as sitk

    series = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))
    if len(series) != 1:
        found = "no DICOM series" if not series else f"{len(series)} DICOM series"
        raise ImageReadError(f"{folder}: folder holds {found}; point to a folder holding the "
                             "slices of exactly one series")
    return list(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), series[0]))


def _read_dicom_series(folder: Path, kind: str, limit: _Limit) -> _Raw:
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    files = dicom_series_files(folder)
    first = sitk.ImageFileReader()
    first.SetFileName(files[0])
    first.ReadImageInformation()
    limit.check([*first.GetSize()[:2], len(files), first.GetNumberOfComponents()])
    reader.SetFileNames(files)
    return _from_itk(reader.Execute(), folder)


def _from_itk(img: sitk.Image, file: Path) -> _Raw:
    import SimpleITK as sitk

    ndim, components = img.GetDimension(), img.GetNumberOfComponentsPerPixel()
    if components not in (1, 3, 4):
        raise ImageReadError(f"{file}: {components} components per pixel; store one channel "
                             "per file (nnU-Net style _0000, _0001, ...)")
    array = _to_xyz(sitk.GetArrayFromImage(img), colour=components > 1)
    flip = np.diag([-1.0, -1.0] + [1.0] * (ndim - 2))  # ITK's LPS to RAS
    direction = flip @ np.asarray(img.GetDirection()).reshape(ndim, ndim)
    origin = flip @ np.asarray(img.GetOrigin())
    return _Raw(array, img.GetSpacing(), tuple(origin), tuple(direction.ravel()),
                colour=components > 1)


def _read_dicom_file(file: Path, kind: str, limit: _Limit) -> _Raw:
    import pydicom

    ds = pydicom.dcmread(file)
    limit.check([int(ds.get("Rows", 0)), int(ds.get("Columns", 0)),
                 int(ds.get("NumberOfFrames", 1) or 1), int(ds.get("SamplesPerPixel", 1))])
    array = ds.pixel_array  # frames?, rows, columns, samples?
    colour = int(ds.get("SamplesPerPixel", 1)) > 1
    array = _to_xyz(array, colour)  # columns (x), rows (y), frames (z)[, samples]
    slope = float(ds.RescaleSlope) if "RescaleSlope" in ds else 1.0
    intercept = float(ds.RescaleIntercept) if "RescaleIntercept" in ds else 0.0
    if (slope, intercept) != (1.0, 0.0):
        array = array * slope + intercept
    pixel = ds.get("PixelSpacing") or ds.get("ImagerPixelSpacing") or (1.0, 1.0)
    spacing = [float(pixel[1]), float(pixel[0])]  # DICOM gives (between rows, between columns)
    if array.ndim - int(colour) == 3:
        spacing.append(float(ds.get("SpacingBetweenSlices") or ds.get("SliceThickness") or 1.0))
    return _Raw(array, tuple(spacing), colour=colour)


def _read_png(file: Path, kind: str, limit: _Limit) -> _Raw:
    from PIL import Image as PILImage

    with PILImage.open(file) as img:
        limit.check([*img.size, len(img.getbands())])
        img.load()
        geometry = json.loads(img.info.get(PNG_GEOMETRY_KEY, "{}"))
        if img.mode == "LA":
            img = img.getchannel("L")
        if img.mode in ("1", "L", "I", "F") or img.mode.startswith("I;16"):
            array, colour = np.asarray(img), False
        elif img.mode == "P" and kind == "label":
            array, colour = np.asarray(img), False  # palette indices are the classes
        else:
            array, colour = np.asarray(img.convert("RGB")), True
    array = _to_xyz(array, colour)
    if "slope" in geometry:
        array = array * float(geometry["slope"]) + float(geometry.get("intercept", 0.0))
    return _Raw(array, tuple(geometry.get("spacing", (1.0, 1.0))),
                tuple(geometry.get("origin", ())), tuple(geometry.get("direction", ())), colour)


def _read_tiff(file: Path, kind: str, limit: _Limit) -> _Raw:
    import tifffile

    with tifffile.TiffFile(file) as tif:
        series = tif.series[0]
        limit.check(series.shape)
        array, axes, page = series.asarray(), series.axes, series.keyframe
        resolution, unit = page.resolution, int(page.resolutionunit)
    colour = axes.endswith("S") and array.shape[-1] in (3, 4)
    if axes.endswith("S") and not colour:
        if array.shape[-1] != 1:
            raise ImageReadError(f"{file}: {array.shape[-1]} samples per pixel; store one "
                                 "channel per file (nnU-Net style _0000, _0001, ...)")
        array = array[..., 0]
    array = _to_xyz(array, colour)
    spacing = [1.0] * (array.ndim - int(colour))
    mm = _TIFF_MM_PER_UNIT.get(unit)
    if mm and all(r > 0 for r in resolution):
        spacing[:2] = [mm / resolution[0], mm / resolution[1]]  # pixels per unit -> mm
    return _Raw(array, tuple(spacing), colour=colour)


_BY_SUFFIX: dict[str, tuple[str, _Reader]] = {
    ".nii": ("NIfTI", _read_nifti),
    ".nii.gz": ("NIfTI", _read_nifti),
    ".nrrd": ("NRRD", _read_itk),
    ".nhdr": ("NRRD", _read_itk),
    ".mha": ("MetaImage", _read_itk),
    ".mhd": ("MetaImage", _read_itk),
    ".dcm": ("DICOM", _read_dicom_file),
    ".png": ("PNG", _read_png),
    ".tif": ("TIFF", _read_tiff),
    ".tiff": ("TIFF", _read_tiff),
}

IMAGE_SUFFIXES: tuple[str, ...] = tuple(_BY_SUFFIX)
"""Suffixes :func:`read_image` recognises (a folder is read as a DICOM series)."""
