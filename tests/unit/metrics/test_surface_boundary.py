"""The fast boundary, bounding box and surface distances equal scipy's erosion, find_objects
and brute-force nearest distances on any mask."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage
from scipy.spatial.distance import cdist

from medselect.metrics import segmentation_metrics
from medselect.metrics.surface import boundary, bounding_box, surface_distances

SPACING = (0.8, 1.0, 2.5)


@settings(max_examples=120, deadline=None)
@given(st.sampled_from([(1, 7), (5, 6), (3, 4, 5), (1, 1, 6), (2, 9, 1)]).flatmap(
    lambda shape: arrays(bool, shape)))
def test_boundary_and_box_equal_scipy(mask):
    np.testing.assert_array_equal(boundary(mask),
                                  mask & ~ndimage.binary_erosion(mask, border_value=0))
    expected = ndimage.find_objects(mask.view(np.uint8))
    assert bounding_box(mask) == (expected[0] if expected else None)


@pytest.mark.parametrize("shape", [(4, 4), (3, 3, 3)])
def test_a_full_mask_is_all_boundary_at_the_image_edge(shape):
    full = np.ones(shape, bool)
    assert boundary(full).sum() == full.sum() - np.prod([n - 2 for n in shape])


@settings(max_examples=80, deadline=None)
@given(st.sampled_from([(4, 5, 3), (6, 3, 4)]).flatmap(
    lambda shape: st.tuples(arrays(bool, shape), arrays(bool, shape))))
def test_surface_distances_equal_brute_force(masks):
    """Boundary voxels the masks share are not searched (distance 0); the rest are."""
    pred, ref = masks
    d = surface_distances(pred, ref, SPACING)
    if not (pred.any() and ref.any()):
        assert d.pred_to_ref.size == d.ref_to_pred.size == 0
        return
    p, r = (np.argwhere(boundary(m)) * np.asarray(SPACING) for m in (pred, ref))
    np.testing.assert_allclose(d.pred_to_ref, cdist(p, r).min(axis=1), rtol=0, atol=1e-12)
    np.testing.assert_allclose(d.ref_to_pred, cdist(r, p).min(axis=1), rtol=0, atol=1e-12)
    shared = (boundary(pred) & boundary(ref))[boundary(pred)]
    assert (d.pred_to_ref[shared] == 0).all()


@settings(max_examples=40, deadline=None)
@given(st.tuples(arrays(bool, (5, 6, 4)), arrays(bool, (5, 6, 4))))
def test_one_class_box_gives_the_values_of_the_multiclass_path(masks):
    """One class is cropped by projections, several by find_objects: the same values."""
    pred, ref = (m.astype(np.uint8) for m in masks)
    one = segmentation_metrics(pred, ref, SPACING, ["a"], nsd_tolerance_mm=1.0)
    two = segmentation_metrics(pred, ref, SPACING, ["a", "absent"], nsd_tolerance_mm=1.0)
    values = {(r.metric, r.label): r.value for r in two}
    for row in one:
        if row.label == "a":
            np.testing.assert_equal(row.value, values[row.metric, "a"])
