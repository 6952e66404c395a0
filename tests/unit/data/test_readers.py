"""read_image on real files of every format, written here with each format's own library."""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
import tifffile
from PIL import Image as PILImage
from pydicom.uid import generate_uid

from medselect.data.readers import read_image
from medselect.errors import DataError, ImageReadError
from medselect.testing.dicom import write_dicom_slice

VOLUME = np.arange(24, dtype=np.float32).reshape(2, 3, 4)  # x, y, z


def write_nifti(path: Path, array: np.ndarray, affine: np.ndarray | None = None) -> Path:
    nib.save(nib.Nifti1Image(array, np.eye(4) if affine is None else affine), path)
    return path


# --- NIfTI ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a.nii", "a.nii.gz"])
def test_nifti_keeps_xyz_order_spacing_and_origin(tmp_path, name):
    affine = np.diag([0.5, 0.7, 2.0, 1.0])
    affine[:3, 3] = [1.0, 2.0, 3.0]
    image = read_image(write_nifti(tmp_path / name, VOLUME, affine))
    assert image.array.dtype == np.float32
    np.testing.assert_array_equal(image.array, VOLUME)
    np.testing.assert_allclose(image.spacing, (0.5, 0.7, 2.0), rtol=1e-6)
    assert image.origin == (1.0, 2.0, 3.0)
    np.testing.assert_allclose(image.direction, np.eye(3).ravel(), atol=1e-7)
    assert image.source == str(tmp_path / name)


def test_nifti_direction_from_rotated_affine(tmp_path):
    # axis 0 runs along world -y with 2 mm voxels, axis 1 along world +x with 3 mm voxels
    affine = np.array([[0, 3.0, 0, 5], [-2.0, 0, 0, 6], [0, 0, 1.5, 7], [0, 0, 0, 1]])
    image = read_image(write_nifti(tmp_path / "r.nii.gz", VOLUME, affine))
    np.testing.assert_allclose(image.spacing, (2.0, 3.0, 1.5))
    np.testing.assert_allclose(np.reshape(image.direction, (3, 3)),
                               [[0, 1, 0], [-1, 0, 0], [0, 0, 1]])


def test_nifti_2d_and_4d_with_one_volume(tmp_path):
    flat = read_image(write_nifti(tmp_path / "f.nii.gz", VOLUME[:, :, 0],
                                  np.diag([0.3, 0.4, 1, 1])))
    assert flat.shape == (2, 3)
    np.testing.assert_allclose(flat.spacing, (0.3, 0.4), rtol=1e-6)
    single = read_image(write_nifti(tmp_path / "s.nii.gz", VOLUME[..., None]))
    assert single.shape == (2, 3, 4)


def test_nifti_one_slice_thick_is_2d_as_nnunet_stores_it(tmp_path):
    image = read_image(write_nifti(tmp_path / "z.nii.gz", VOLUME[:, :, :1],
                                   np.diag([0.3, 0.4, 5.0, 1])))
    assert image.shape == (2, 3)
    np.testing.assert_array_equal(image.array, VOLUME[:, :, 0])
    np.testing.assert_allclose(image.spacing, (0.3, 0.4), rtol=1e-6)
    label = read_image(write_nifti(tmp_path / "l.nii.gz", np.ones((2, 3, 1, 1), np.uint8)),
                       kind="label")
    assert label.shape == (2, 3)


def _nifti_header_claiming(path: Path, shape: tuple[int, ...]) -> Path:
    """A tiny .nii.gz whose header claims ``shape`` but holds a few bytes of data."""
    header = nib.Nifti1Header()
    header.set_data_shape(shape)
    header.set_data_dtype(np.uint8)
    header["vox_offset"] = 352
    raw = header.binaryblock + b"\0" * 4 + b"\0" * 64
    path.write_bytes(gzip.compress(raw))
    return path


@pytest.mark.parametrize("shape", [(32767, 32767, 32767), (16384, 16384)])
def test_huge_header_is_refused_before_allocating(tmp_path, shape):
    path = _nifti_header_claiming(tmp_path / "bomb.nii.gz", shape)
    with pytest.raises(ImageReadError, match=r"header declares shape .* more than the limit") \
            as err:
        read_image(path, max_voxels=10**8)
    assert str(path) in str(err.value)


def test_voxel_limit_applies_to_every_format(tmp_path):
    png = tmp_path / "a.png"
    PILImage.fromarray(np.zeros((40, 50), np.uint8)).save(png)
    tif = tmp_path / "a.tif"
    tifffile.imwrite(tif, np.zeros((4, 40, 50), np.uint8), photometric="minisblack")
    mha = tmp_path / "a.mha"
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((4, 40, 50), np.float32)), str(mha))
    dcm = write_dicom_slice(tmp_path / "a.dcm", np.zeros((40, 50)), series=generate_uid())
    for path in (png, tif, mha, dcm):
        assert read_image(path, max_voxels=10**5).array.size >= 2000
        with pytest.raises(ImageReadError, match="more than the limit of 1,000") as err:
            read_image(path, max_voxels=1000)
        assert str(path) in str(err.value)


def test_multichannel_nifti_is_refused(tmp_path):
    path = write_nifti(tmp_path / "mc.nii.gz", np.zeros((2, 3, 4, 2), np.float32))
    with pytest.raises(ImageReadError, match=r"not a 2D or 3D single-channel.*_0000") as err:
        read_image(path)
    assert str(path) in str(err.value)


def test_label_keeps_integers(tmp_path):
    label = read_image(write_nifti(tmp_path / "l.nii.gz", np.array([[0, 1], [2, 5]], np.int16)),
                       kind="label")
    assert label.array.dtype == np.uint8
    np.testing.assert_array_equal(label.array, [[0, 1], [2, 5]])
    wide = read_image(write_nifti(tmp_path / "w.nii.gz", np.array([[0, 300]], np.int16)),
                      kind="label")
    assert wide.array.dtype == np.int32
    floats = read_image(write_nifti(tmp_path / "f.nii.gz", np.array([[0.0, 3.0]], np.float32)),
                        kind="label")
    np.testing.assert_array_equal(floats.array, [[0, 3]])


def test_label_with_fractions_is_refused(tmp_path):
    path = write_nifti(tmp_path / "l.nii.gz", np.array([[0.0, 0.5], [1.0, 1.0]], np.float32))
    with pytest.raises(ImageReadError, match=r"non-integer values such as 0\.5") as err:
        read_image(path, kind="label")
    assert str(path) in str(err.value)


def test_nan_in_image_is_refused_but_reported_with_count(tmp_path):
    data = VOLUME.copy()
    data[0, 0, 0], data[1, 1, 1] = np.nan, np.inf
    path = write_nifti(tmp_path / "nan.nii.gz", data)
    with pytest.raises(ImageReadError, match="2 NaN or infinite values") as err:
        read_image(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("name", ["t.nii", "t.nii.gz"])
def test_truncated_nifti(tmp_path, name):
    path = write_nifti(tmp_path / name, np.random.default_rng(0).random((16, 16, 16)))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ImageReadError, match=r"cannot be read as NIfTI.*truncated") as err:
        read_image(path)
    assert str(path) in str(err.value)


def test_gzip_of_garbage_is_a_read_error(tmp_path):
    path = tmp_path / "g.nii.gz"
    path.write_bytes(gzip.compress(b"not a nifti header" * 30))
    with pytest.raises(ImageReadError, match="NIfTI"):
        read_image(path)


# --- ITK formats and DICOM -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["v.nrrd", "v.mha", "v.mhd"])
def test_itk_formats_come_back_in_xyz_order_and_ras(tmp_path, name):
    itk = sitk.GetImageFromArray(VOLUME.transpose(2, 1, 0).copy())  # ITK arrays are z, y, x
    itk.SetSpacing((0.5, 0.6, 2.0))
    itk.SetOrigin((1.0, 2.0, 3.0))
    sitk.WriteImage(itk, str(tmp_path / name))
    image = read_image(tmp_path / name)
    np.testing.assert_array_equal(image.array, VOLUME)
    np.testing.assert_allclose(image.spacing, (0.5, 0.6, 2.0))
    assert image.origin == (-1.0, -2.0, 3.0)  # LPS -> RAS
    np.testing.assert_allclose(np.reshape(image.direction, (3, 3)), np.diag([-1.0, -1.0, 1.0]))


def test_truncated_mha(tmp_path):
    itk = sitk.GetImageFromArray(np.zeros((8, 8, 8), np.float32))
    path = tmp_path / "t.mha"
    sitk.WriteImage(itk, str(path))
    path.write_bytes(path.read_bytes()[:-1000])
    with pytest.raises(ImageReadError, match="cannot be read as MetaImage") as err:
        read_image(path)
    assert str(path) in str(err.value)


def test_single_dicom_applies_pixel_spacing_and_rescale(tmp_path):
    pixels = np.arange(12).reshape(3, 4)  # 3 rows, 4 columns
    path = write_dicom_slice(tmp_path / "s.dcm", pixels, series=generate_uid(), slope=2.0,
                             intercept=-10.0)
    image = read_image(path)
    assert image.shape == (4, 3)  # x = columns, y = rows
    np.testing.assert_array_equal(image.array, pixels.T * 2.0 - 10.0)
    assert image.spacing == (0.8, 0.5)  # PixelSpacing is (between rows, between columns)


def test_multiframe_dicom_is_3d(tmp_path):
    frames = np.arange(24).reshape(2, 3, 4)
    image = read_image(write_dicom_slice(tmp_path / "m.dcm", frames, series=generate_uid()))
    np.testing.assert_array_equal(image.array, frames.transpose(2, 1, 0))
    assert image.spacing == (0.8, 0.5, 2.0)  # SliceThickness between frames


def test_dicom_without_suffix_is_recognised_by_content(tmp_path):
    path = write_dicom_slice(tmp_path / "IM0001", np.ones((2, 2)), series=generate_uid())
    assert read_image(path).shape == (2, 2)


def test_dicom_series_folder(tmp_path):
    series = generate_uid()
    pixels = np.arange(12).reshape(3, 4)
    for i in (2, 0, 1):  # written out of order; ImagePositionPatient decides
        write_dicom_slice(tmp_path / f"slice{i}.dcm", pixels + i, series=series, z=2.0 * i)
    image = read_image(tmp_path)
    assert image.shape == (4, 3, 3)
    np.testing.assert_array_equal(image.array[:, :, 2], pixels.T + 2)
    np.testing.assert_allclose(image.spacing, (0.8, 0.5, 2.0))
    assert image.origin == (-10.0, -20.0, 0.0)


def test_folder_without_dicom_series(tmp_path):
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(ImageReadError, match="no DICOM series") as err:
        read_image(tmp_path)
    assert str(tmp_path) in str(err.value)


def test_corrupt_dicom(tmp_path):
    path = write_dicom_slice(tmp_path / "c.dcm", np.ones((8, 8)), series=generate_uid())
    path.write_bytes(path.read_bytes()[:-64])
    with pytest.raises(ImageReadError, match="cannot be read as DICOM"):
        read_image(path)
    assert pydicom.dcmread(path, stop_before_pixels=True).Rows == 8  # only the pixels are cut


# --- PNG and TIFF --------------------------------------------------------------------------


def test_png_is_transposed_to_xy(tmp_path):
    rows = np.array([[0, 10, 20], [30, 40, 50]], np.uint8)  # 2 rows, 3 columns
    PILImage.fromarray(rows).save(tmp_path / "g.png")
    image = read_image(tmp_path / "g.png")
    assert image.shape == (3, 2)
    assert image.array[2, 1] == 50.0
    assert image.spacing == (1.0, 1.0)


def test_rgb_png_becomes_luminance_and_is_refused_as_label(tmp_path):
    rgb = np.zeros((1, 2, 3), np.uint8)
    rgb[0, 0] = (100, 100, 100)
    rgb[0, 1] = (255, 0, 0)
    PILImage.fromarray(rgb).save(tmp_path / "c.png")
    image = read_image(tmp_path / "c.png")
    np.testing.assert_allclose(image.array[:, 0], [100.0, 0.299 * 255], rtol=1e-6)
    with pytest.raises(ImageReadError, match="colour"):
        read_image(tmp_path / "c.png", kind="label")


def test_palette_png_label_gives_indices(tmp_path):
    picture = PILImage.fromarray(np.array([[0, 1], [2, 1]], np.uint8), mode="P")
    picture.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0])
    picture.save(tmp_path / "p.png")
    np.testing.assert_array_equal(read_image(tmp_path / "p.png", kind="label").array,
                                  [[0, 2], [1, 1]])


def test_corrupt_png(tmp_path):
    path = tmp_path / "c.png"
    PILImage.fromarray(np.zeros((64, 64), np.uint8)).save(path)
    data = path.read_bytes()
    path.write_bytes(data[:60])
    with pytest.raises(ImageReadError, match="cannot be read as PNG") as err:
        read_image(path)
    assert str(path) in str(err.value)


def test_tiff_resolution_gives_spacing(tmp_path):
    rows = np.arange(6, dtype=np.uint16).reshape(2, 3)
    tifffile.imwrite(tmp_path / "r.tif", rows, resolution=(10.0, 5.0),
                     resolutionunit="CENTIMETER")  # pixels per cm
    image = read_image(tmp_path / "r.tif")
    np.testing.assert_array_equal(image.array, rows.T)
    np.testing.assert_allclose(image.spacing, (1.0, 2.0))
    tifffile.imwrite(tmp_path / "n.tiff", rows)
    assert read_image(tmp_path / "n.tiff").spacing == (1.0, 1.0)


def test_tiff_stack_is_3d(tmp_path):
    stack = np.arange(2 * 3 * 5, dtype=np.uint8).reshape(5, 2, 3)  # z, y, x
    tifffile.imwrite(tmp_path / "s.tif", stack, photometric="minisblack")
    image = read_image(tmp_path / "s.tif")
    np.testing.assert_array_equal(image.array, stack.transpose(2, 1, 0))


# --- what every format shares --------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(ImageReadError, match="does not exist") as err:
        read_image(tmp_path / "absent.nii.gz")
    assert str(tmp_path / "absent.nii.gz") in str(err.value)
    assert isinstance(err.value, DataError | ValueError)


def test_unknown_format(tmp_path):
    path = tmp_path / "scan.xyz"
    path.write_text("hello")
    with pytest.raises(ImageReadError, match=r"unknown image format '\.xyz'; use NIfTI"):
        read_image(path)


def test_kind_must_be_image_or_label(tmp_path):
    with pytest.raises(ValueError, match="'kind'"):
        read_image(tmp_path / "x.nii", kind="mask")
