"""write_image followed by read_image gives back what was written."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medselect.data.image import Image
from medselect.data.readers import read_image
from medselect.data.writers import write_image
from medselect.errors import DataError

ROTATION = (math.cos(0.3), -math.sin(0.3), 0.0,
            math.sin(0.3), math.cos(0.3), 0.0,
            0.0, 0.0, 1.0)


def assert_same(read, written, *, atol=0.0):
    np.testing.assert_allclose(read.array, written.array, atol=atol)
    np.testing.assert_allclose(read.spacing, written.spacing, rtol=1e-6)
    np.testing.assert_allclose(read.origin, written.origin, atol=1e-5)
    np.testing.assert_allclose(read.direction, written.direction, atol=1e-6)


@pytest.mark.parametrize("name", ["v.nii", "v.nii.gz"])
def test_nifti_round_trip_with_anisotropic_spacing_and_rotation(tmp_path, name):
    image = Image(np.random.default_rng(0).normal(size=(3, 4, 5)).astype(np.float32),
                  spacing=(0.4, 0.9, 3.0), origin=(-12.5, 4.0, 30.0), direction=ROTATION)
    written = write_image(image, tmp_path / name)
    assert written == tmp_path / name
    read = read_image(written)
    assert read.array.dtype == np.float32
    assert_same(read, image)


def test_nifti_2d_round_trip(tmp_path):
    image = Image(np.arange(6, dtype=np.float32).reshape(2, 3), spacing=(0.25, 0.5),
                  origin=(1.0, 2.0))
    assert_same(read_image(write_image(image, tmp_path / "f.nii.gz")), image)


def test_nifti_label_round_trip(tmp_path):
    label = Image(np.array([[[0, 1], [2, 300]]], np.int64), spacing=(1.0, 1.0, 2.5))
    read = read_image(write_image(label, tmp_path / "l.nii.gz"), kind="label")
    assert read.array.dtype == np.int32
    assert_same(read, label)


def test_png_label_8_and_16_bit(tmp_path):
    small = Image(np.array([[0, 1, 2], [3, 4, 5]], np.int64), spacing=(0.3, 0.7))
    assert_same(read_image(write_image(small, tmp_path / "s.png"), kind="label"), small)
    big = Image(np.array([[0, 1000], [65535, 7]], np.int32), spacing=(1.0, 1.0))
    read = read_image(write_image(big, tmp_path / "b.png"), kind="label")
    np.testing.assert_array_equal(read.array, big.array)
    mask = Image(np.array([[True, False]]), spacing=(2.0, 2.0))
    np.testing.assert_array_equal(read_image(write_image(mask, tmp_path / "m.png"),
                                             kind="label").array, [[1, 0]])


def test_png_keeps_xy_order_and_geometry(tmp_path):
    image = Image(np.array([[0.0, 200.0, 40.0]], np.float32), spacing=(0.5, 1.5),
                  origin=(3.0, -4.0))
    read = read_image(write_image(image, tmp_path / "w.png"))
    assert read.shape == (1, 3)
    assert_same(read, image)  # whole numbers in 0..255 are stored exactly


def test_png_float_image_is_rescaled_within_its_precision(tmp_path):
    values = np.random.default_rng(1).normal(size=(7, 5)).astype(np.float32)
    image = Image(values, spacing=(0.4, 0.4))
    read = read_image(write_image(image, tmp_path / "f.png"))
    step = (values.max() - values.min()) / 65535
    np.testing.assert_allclose(read.array, values, atol=step)


def test_png_refuses_3d_and_unrepresentable_labels(tmp_path):
    with pytest.raises(DataError, match=r"PNG holds 2D images.*\.nii\.gz"):
        write_image(Image(np.zeros((2, 2, 2), np.float32), (1.0, 1.0, 1.0)), tmp_path / "v.png")
    with pytest.raises(DataError, match=r"label values -1\.\.3 do not fit uint8/uint16"):
        write_image(Image(np.array([[-1, 3]]), (1.0, 1.0)), tmp_path / "n.png")
    assert list(tmp_path.iterdir()) == []


def test_refuses_unknown_suffix_and_nan(tmp_path):
    image = Image(np.zeros((2, 2), np.float32), (1.0, 1.0))
    with pytest.raises(DataError, match=r"cannot write '\.mha'; use one of \.nii, \.nii\.gz"):
        write_image(image, tmp_path / "x.mha")
    with pytest.raises(DataError, match="NaN"):
        write_image(Image(np.array([[np.nan, 0.0]], np.float32), (1.0, 1.0)),
                    tmp_path / "x.nii.gz")


@pytest.mark.parametrize("name", ["a.nii.gz", "a.nii", "a.png"])
def test_equal_images_give_equal_bytes(tmp_path, name):
    image = Image(np.arange(6, dtype=np.uint8).reshape(2, 3), (0.5, 0.5))
    first = write_image(image, tmp_path / "1" / name).read_bytes()
    assert write_image(image, tmp_path / "2" / name).read_bytes() == first


def test_write_is_atomic_and_creates_folders(tmp_path):
    image = Image(np.ones((2, 2), np.float32), (1.0, 1.0))
    target = tmp_path / "pred" / "case_001.nii.gz"
    write_image(image, target)
    write_image(Image(np.zeros((2, 2), np.float32), (1.0, 1.0)), target)  # replaces
    assert [p.name for p in target.parent.iterdir()] == ["case_001.nii.gz"]
    np.testing.assert_array_equal(read_image(target).array, 0.0)
