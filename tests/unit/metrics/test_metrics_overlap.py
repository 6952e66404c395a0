"""Overlap metrics on arrays small enough to count by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medselect.errors import DataError
from medselect.metrics.overlap import (
    FUNCTIONS,
    OverlapCounts,
    dice,
    iou,
    precision,
    sensitivity,
    volume_diff,
    volume_diff_rel,
)

# 3 x 4 pixels of 0.5 x 2.0 mm (1 mm² each). |R| = 4, |P| = 5, TP = 2, FP = 3, FN = 2.
REF = np.array([[1, 1, 0, 0],
                [1, 1, 0, 0],
                [0, 0, 0, 0]], dtype=bool)
PRED = np.array([[0, 1, 1, 0],
                 [0, 1, 1, 1],
                 [0, 0, 0, 0]], dtype=bool)
SPACING = (0.5, 2.0)


def test_counts_from_masks():
    assert OverlapCounts.from_masks(PRED, REF, SPACING) == OverlapCounts(2, 3, 2, 1.0)


def test_hand_worked_values():
    c = OverlapCounts.from_masks(PRED, REF, SPACING)
    assert dice(c) == pytest.approx(4 / 9)  # 2·2 / (5 + 4)
    assert iou(c) == pytest.approx(2 / 7)  # 2 / |P ∪ R| = 2 / 7
    assert precision(c) == pytest.approx(2 / 5)
    assert sensitivity(c) == pytest.approx(2 / 4)
    assert volume_diff(c) == pytest.approx(1.0)  # one pixel of 1 mm²
    assert volume_diff_rel(c) == pytest.approx(25.0)  # 1 mm² of 4 mm²


def test_volume_uses_spacing_in_3d():
    ref = np.zeros((2, 2, 2), dtype=bool)
    ref[0] = True  # 4 voxels
    pred = np.ones((2, 2, 2), dtype=bool)  # 8 voxels
    c = OverlapCounts.from_masks(pred, ref, (1.0, 2.0, 3.0))  # 6 mm³ per voxel
    assert volume_diff(c) == pytest.approx(24.0)
    assert volume_diff_rel(c) == pytest.approx(100.0)


def test_dice_and_iou_are_related():
    c = OverlapCounts.from_masks(PRED, REF, SPACING)
    assert dice(c) == pytest.approx(2 * iou(c) / (1 + iou(c)))


EMPTY = np.zeros_like(REF)


@pytest.mark.parametrize(
    ("pred", "ref", "expected"),
    [
        # dice, iou, precision, sensitivity, volume_diff (mm²), volume_diff_rel (%)
        (EMPTY, EMPTY, (1.0, 1.0, 1.0, 1.0, 0.0, 0.0)),
        (EMPTY, REF, (0.0, 0.0, 0.0, 0.0, 4.0, 100.0)),
        (PRED, EMPTY, (0.0, 0.0, 0.0, 0.0, 5.0, math.nan)),
    ],
    ids=["both-empty", "pred-empty", "ref-empty"],
)
def test_empty_mask_policies(pred, ref, expected):
    c = OverlapCounts.from_masks(pred, ref, SPACING)
    got = tuple(f(c) for f in FUNCTIONS.values())
    np.testing.assert_equal(got, expected)


def test_shape_mismatch_is_a_data_error():
    with pytest.raises(DataError, match=r"prediction shape \(3, 4\) differs"):
        OverlapCounts.from_masks(PRED, REF[:2], SPACING)


def test_spacing_must_fit():
    with pytest.raises(DataError, match="2 dimensions"):
        OverlapCounts.from_masks(PRED, REF, (1.0, 1.0, 1.0))
    with pytest.raises(DataError, match="positive"):
        OverlapCounts.from_masks(PRED, REF, (1.0, 0.0))
