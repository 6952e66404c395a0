"""The fast boundary and bounding box equal scipy's erosion and find_objects on any mask."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage

from medselect.metrics.surface import boundary, bounding_box


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
