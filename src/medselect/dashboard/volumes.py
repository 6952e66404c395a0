"""The case viewer's volumes: a stored image, label map or prediction sent as NIfTI to Niivue.

Whatever format a case was imported in (NIfTI, NRRD, DICOM, PNG, TIFF) or a prediction was
written in (PNG in 2D, NIfTI in 3D), it is read with medselect's own readers, so the viewer
shows the very arrays and geometry (RAS affine) the metrics and static overlays were computed
on, and is sent as NIfTI, the one format every layer then shares:

- an image as uncompressed ``.nii``: float32, or the smallest integer type when every value
  is a whole number (CT, most MR), so no value changes. Its ``cal_min``/``cal_max`` are the
  static overlays' grey window (1st-99th percentile). Noisy intensities hardly compress, and
  gzip would cost most of a second on a 256 x 256 x 128 volume.
- a label map as ``.nii.gz`` with the NIfTI ``label`` intent: it compresses fifty-fold in
  milliseconds.

A file whose header declares more than :data:`MAX_VOXELS` voxels is refused before its pixels
are read (a browser could not hold it anyway). Encoded volumes are kept in a least-recently-used
cache of at most :data:`CACHE_BYTES`, keyed by the file's path, size and modification time, so
a replaced file is read afresh.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medselect.dashboard.cache import ResultCache
from medselect.data.image import Image
from medselect.data.readers import ImageKind, read_image
from medselect.data.writers import nifti_image
from medselect.errors import DataError
from medselect.evaluate.overlay import intensity_window

__all__ = ["CACHE_BYTES", "MAX_VOXELS", "Volume", "VolumeCache", "encode_volume"]

MAX_VOXELS = 2**26
"""Most voxels the viewer is sent in one volume: 512 x 512 x 256, 256 MiB as float32."""
CACHE_BYTES = 512 * 2**20
"""Most bytes of encoded volumes kept in memory (about eight 256 x 256 x 128 float32 images)."""


@dataclass(frozen=True)
class Volume:
    """One encoded volume and how to send it; ``etag`` names the file version it came from."""

    data: bytes
    media_type: str
    etag: str = ""

    def __len__(self) -> int:
        return len(self.data)


def encode_volume(path: Path, kind: ImageKind, max_voxels: int = MAX_VOXELS) -> Volume:
    """The file at ``path`` as NIfTI bytes for the viewer (see the module docstring).

    Raises:
        DataError: it cannot be read (the reader's message), or declares more than
            ``max_voxels`` voxels.
    """
    image = read_image(path, kind=kind, max_voxels=max_voxels)
    if kind == "label":
        nifti = nifti_image(image, path)
        nifti.header.set_intent("label")
        return Volume(gzip.compress(nifti.to_bytes(), compresslevel=1, mtime=0),
                      "application/gzip")
    nifti = nifti_image(_lossless_integers(image), path)
    nifti.header["cal_min"], nifti.header["cal_max"] = intensity_window(image.array)
    return Volume(nifti.to_bytes(), "application/octet-stream")


def _lossless_integers(image: Image) -> Image:
    """``image`` with an integer array when every value is a whole number within int32 (the
    writer then picks the smallest integer type), else unchanged."""
    array = image.array
    low, high = float(array.min()), float(array.max())
    if low < -(2.0**31) or high >= 2.0**31 or not np.array_equal(array, np.round(array)):
        return image
    return Image(array.astype(np.int32), image.spacing, image.origin, image.direction)


class VolumeCache:
    """Encoded volumes by file, the most recently used kept up to ``max_bytes``; files declaring
    more than ``max_voxels`` voxels are refused.

    Example::

        volumes = VolumeCache()
        volume = volumes.get(path, "label")
    """

    def __init__(self, max_bytes: int = CACHE_BYTES, max_voxels: int = MAX_VOXELS) -> None:
        self._cache = ResultCache(max_bytes, weigh=len)
        self.max_voxels = max_voxels

    def get(self, path: Path, kind: ImageKind) -> Volume:
        """The encoded volume of ``path`` (a file or a DICOM series folder).

        Raises:
            DataError: as :func:`encode_volume`.
        """
        try:
            stat = path.stat()
        except OSError as exc:
            raise DataError(f"{path}: cannot be read ({exc.strerror})") from exc
        key = (str(path), kind, stat.st_size, stat.st_mtime_ns)
        etag = '"' + hashlib.sha256(repr(key).encode()).hexdigest()[:32] + '"'
        return self._cache.get_or_compute(
            key, lambda: dataclasses.replace(encode_volume(path, kind, self.max_voxels),
                                             etag=etag))
