"""Surface-distance metrics on arrays small enough to work out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medselect.errors import ConfigError, DataError
from medselect.metrics.surface import (
    assd,
    boundary,
    hd,
    hd95,
    nsd,
    surface_distances,
)


def test_boundary_is_foreground_with_a_background_face_neighbour():
    mask = np.zeros((5, 5), dtype=bool)
    mask[1:4, 1:4] = True
    ring = mask.copy()
    ring[2, 2] = False
    np.testing.assert_array_equal(boundary(mask), ring)


def test_boundary_counts_the_image_border_as_background():
    mask = np.ones((3, 3, 3), dtype=bool)
    expected = mask.copy()
    expected[1, 1, 1] = False
    np.testing.assert_array_equal(boundary(mask), expected)


def test_diagonal_background_neighbour_does_not_make_a_boundary():
    mask = np.ones((5, 5), dtype=bool)
    mask[0, 0] = False  # (1, 1) touches it only diagonally
    assert not boundary(mask)[1, 1]
    assert boundary(mask)[0, 1] and boundary(mask)[1, 0]


def row(*columns: int) -> np.ndarray:
    mask = np.zeros((1, 12), dtype=bool)
    mask[0, list(columns)] = True
    return mask


def test_hand_worked_row():
    # A one-row mask is all boundary. pred: columns 0-3; ref: columns 0-3 and 9.
    # pixels are 1 x 0.5 mm, so column 9 is 6 · 0.5 = 3 mm from column 3.
    # pred -> ref: 0, 0, 0, 0.   ref -> pred: 0, 0, 0, 0, 3.
    d = surface_distances(row(0, 1, 2, 3), row(0, 1, 2, 3, 9), (1.0, 0.5))
    np.testing.assert_array_equal(np.sort(d.ref_to_pred), [0, 0, 0, 0, 3])
    assert hd(d) == pytest.approx(3.0)
    # 95th percentile of (0, 0, 0, 0, 3): position 0.95 · 4 = 3.8 -> 0 + 0.8 · 3 = 2.4
    assert hd95(d) == pytest.approx(2.4)
    assert assd(d) == pytest.approx(3 / 9)  # pooled mean of nine distances
    assert nsd(d, 1.0) == pytest.approx(8 / 9)
    assert nsd(d, 3.0) == pytest.approx(1.0)  # a distance equal to the tolerance is within


def test_two_points_with_anisotropic_spacing():
    pred = np.zeros((6, 7), dtype=bool)
    ref = np.zeros((6, 7), dtype=bool)
    pred[1, 1] = ref[4, 5] = True
    d = surface_distances(pred, ref, (0.5, 2.0))
    expected = math.hypot(3 * 0.5, 4 * 2.0)
    for metric in (hd, hd95, assd):
        assert metric(d) == pytest.approx(expected)
    assert nsd(d, expected - 0.01) == 0.0
    assert nsd(d, expected + 0.01) == 1.0


def test_shifted_cube_distances_in_3d():
    ref = np.zeros((10, 10, 10), dtype=bool)
    ref[2:6, 2:6, 2:6] = True
    pred = np.roll(ref, 2, axis=0)  # shifted 2 voxels of 1.5 mm along x
    d = surface_distances(pred, ref, (1.5, 1.0, 1.0))
    assert hd(d) == pytest.approx(3.0)  # a shifted face is 2 · 1.5 mm from the old one
    assert d.pred_to_ref.min() == 0.0  # side faces overlap


def test_identical_masks_are_perfect():
    ref = np.zeros((8, 8, 8), dtype=bool)
    ref[2:6, 1:7, 3:5] = True
    d = surface_distances(ref, ref, 1.0)
    assert (hd(d), hd95(d), assd(d), nsd(d, 0.0)) == (0.0, 0.0, 0.0, 1.0)


def test_empty_mask_policies():
    full = np.zeros((4, 6), dtype=bool)
    full[1:3, 1:4] = True
    empty = np.zeros_like(full)
    spacing = (3.0, 2.0)
    diagonal = math.hypot(4 * 3.0, 6 * 2.0)  # field of view 12 x 12 mm
    both = surface_distances(empty, empty, spacing)
    assert (hd(both), hd95(both), assd(both), nsd(both, 1.0)) == (0.0, 0.0, 0.0, 1.0)
    for pred, ref in ((empty, full), (full, empty)):
        d = surface_distances(pred, ref, spacing)
        assert d.image_diagonal_mm == pytest.approx(diagonal)
        assert hd(d) == hd95(d) == assd(d) == pytest.approx(diagonal)
        assert nsd(d, 100.0) == 0.0


def test_bad_input():
    mask = np.ones((3, 3), dtype=bool)
    with pytest.raises(DataError, match="differs from reference shape"):
        surface_distances(mask, np.ones((3, 4), dtype=bool), 1.0)
    with pytest.raises(DataError, match="2D or 3D"):
        surface_distances(np.ones(3, dtype=bool), np.ones(3, dtype=bool), 1.0)
    d = surface_distances(mask, mask, 1.0)
    with pytest.raises(ConfigError, match="nsd_tolerance_mm"):
        nsd(d, -1.0)
    with pytest.raises(ConfigError, match="nsd_tolerance_mm"):
        nsd(d, math.inf)
