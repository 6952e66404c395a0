"""Landmark metrics, worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medselect.errors import ConfigError, DataError
from medselect.metrics import (
    MEAN_LABEL,
    SDR_RADII_MM,
    centroids_from_labels,
    landmark_metrics,
    radial_errors,
    success_detection_rate,
)

NAMES = ["a", "b", "c", "d", "e"]
REF = {"a": (0, 0), "b": (3, 4), "c": (10, 10), "d": (0, 5), "e": (1, 1)}
PRED = {"a": (1, 0), "b": (0, 0), "c": (12, 10), "d": (2.5, 5), "e": (1, 4.5)}
# radial errors: 1, 5, 2, 2.5, 3.5 mm


def as_table(rows) -> dict[tuple[str, str], float]:
    return {(r.metric, r.label): r.value for r in rows}


def test_hand_worked_case():
    table = as_table(landmark_metrics(PRED, REF, NAMES, image_diagonal_mm=100.0))
    assert [table["radial_error", n] for n in NAMES] == pytest.approx([1, 5, 2, 2.5, 3.5])
    assert table["mre", MEAN_LABEL] == pytest.approx(14 / 5)
    assert table["sdr_2mm", MEAN_LABEL] == pytest.approx(40.0)  # 1 and 2 (a tie is a success)
    assert table["sdr_2.5mm", MEAN_LABEL] == pytest.approx(60.0)
    assert table["sdr_3mm", MEAN_LABEL] == pytest.approx(60.0)
    assert table["sdr_4mm", MEAN_LABEL] == pytest.approx(80.0)


def test_absent_landmarks_follow_the_policy():
    pred = {"a": (1, 0), "b": None, "d": (math.nan, 5)}  # b, d absent; c absent from both
    ref = {"a": (0, 0), "b": (3, 4), "d": (0, 5), "e": (1, 1)}  # e absent from prediction only
    pred["e"] = None
    ref_extra = {**ref, "f": (9, 9)}  # not in names: not evaluated
    table = as_table(landmark_metrics(pred, ref_extra, ["a", "b", "c", "d", "e"],
                                      image_diagonal_mm=50.0))
    assert [table["radial_error", n] for n in "abcde"] == [1.0, 50.0, 0.0, 50.0, 50.0]
    assert table["sdr_4mm", MEAN_LABEL] == pytest.approx(40.0)  # a and c succeed


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("names", [["a"], ["a", "b", "c"]])
@pytest.mark.parametrize("empty", ["pred", "ref", "both"])
@pytest.mark.parametrize("absent", [None, "missing"])
def test_a_side_without_any_point_is_scored_in_2d_and_3d(ndim, names, empty, absent):
    """The empty side takes its dimension from the other side (it used to be taken as 3D)."""
    points = {n: tuple(float(i + k) for k in range(ndim)) for i, n in enumerate(names)}
    nothing = {} if absent == "missing" else dict.fromkeys(names)
    pred = nothing if empty in ("pred", "both") else points
    ref = nothing if empty in ("ref", "both") else points
    table = as_table(landmark_metrics(pred, ref, names, image_diagonal_mm=10.0))
    worst = empty != "both"
    assert [table["radial_error", n] for n in names] == [10.0 if worst else 0.0] * len(names)
    assert table["mre", MEAN_LABEL] == (10.0 if worst else 0.0)
    assert all(table[sdr, MEAN_LABEL] == (0.0 if worst else 100.0) for sdr in SDR_RADII_MM)


ON_RADIUS = [(metric, spacing, round(radius / spacing))
             for metric, radius in SDR_RADII_MM.items() for spacing in (0.1, 0.2, 0.3, 0.4)
             if math.isclose(round(radius / spacing) * spacing, radius)]
"""(SDR metric, pixel spacing in mm, pixels to its radius) where the radius is whole pixels."""


@pytest.mark.parametrize(("metric", "spacing", "steps"), ON_RADIUS)
def test_a_point_exactly_on_the_success_radius_is_a_success(metric, spacing, steps):
    """Pixel offsets whose exact distance is the radius round to a hair above it in floats."""
    names = [f"p{i}" for i in range(40)]
    ref = {n: (i * spacing, 7.0) for i, n in enumerate(names)}
    on_radius = {n: ((i + steps) * spacing, 7.0) for i, n in enumerate(names)}
    beyond = {n: ((i + steps + 1) * spacing, 7.0) for i, n in enumerate(names)}
    assert as_table(landmark_metrics(on_radius, ref, names, image_diagonal_mm=100.0))[
        metric, MEAN_LABEL] == 100.0
    assert as_table(landmark_metrics(beyond, ref, names, image_diagonal_mm=100.0))[
        metric, MEAN_LABEL] == 0.0


def test_a_point_just_beyond_the_radius_is_a_miss():
    errors = np.array([2.0, 2.0 + 1e-6, 2.0 * (1 + 1e-8)])
    assert success_detection_rate(errors, 2.0) == pytest.approx(100 / 3)


def test_reference_absent_only_is_worst_too():
    errors = radial_errors(np.array([[1.0, 2.0, 3.0]]), np.full((1, 3), np.nan),
                           image_diagonal_mm=7.0)
    assert errors.tolist() == [7.0]


def test_3d_points():
    errors = radial_errors(np.array([[1.0, 2.0, 2.0]]), np.zeros((1, 3)), image_diagonal_mm=9.0)
    assert errors.tolist() == pytest.approx([3.0])


def test_centroids_from_labels_in_mm():
    labels = np.zeros((4, 5), dtype=np.uint8)
    labels[1, 1] = labels[1, 3] = 1  # centroid (1, 2)
    labels[3, 4] = 3
    points = centroids_from_labels(labels, (0.5, 2.0), ["p", "q", "r"])
    assert points == {"p": pytest.approx((0.5, 4.0)), "q": None, "r": pytest.approx((1.5, 8.0))}


def test_centroids_feed_landmark_metrics():
    labels = np.zeros((10, 10, 10), dtype=np.uint8)
    labels[2:5, 2:5, 2:5] = 1  # centroid (3, 3, 3)
    pred = centroids_from_labels(labels, 1.0, ["tip"])
    table = as_table(landmark_metrics(pred, {"tip": (3, 3, 5)}, ["tip"], image_diagonal_mm=17.3))
    assert table["radial_error", "tip"] == pytest.approx(2.0)


def test_bad_input():
    with pytest.raises(DataError, match="2 or 3 coordinates"):
        landmark_metrics({"a": (1, 2, 3), "b": (1, 2)}, REF, ["a", "b"], image_diagonal_mm=1.0)
    with pytest.raises(DataError, match="3 coordinates, reference points 2"):
        landmark_metrics({"a": (1, 2, 3)}, {"a": (1, 2)}, ["a"], image_diagonal_mm=1.0)
    with pytest.raises(ConfigError, match="unique"):
        landmark_metrics(PRED, REF, ["a", "a"], image_diagonal_mm=1.0)
    with pytest.raises(ConfigError, match="non-empty"):
        centroids_from_labels(np.zeros((3, 3)), 1.0, [])
