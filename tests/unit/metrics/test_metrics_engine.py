"""The multi-class engine gives, per class, what the single-class functions give."""

from __future__ import annotations

import math

import numpy as np
import pytest
from metric_shapes import Shapes as S

from medselect.errors import ConfigError, DataError
from medselect.metrics import MEAN_LABEL, SEGMENTATION_METRICS, segmentation_metrics
from medselect.metrics.overlap import FUNCTIONS as OVERLAP
from medselect.metrics.overlap import OverlapCounts
from medselect.metrics.surface import FUNCTIONS as SURFACE
from medselect.metrics.surface import nsd, surface_distances

CLASSES = ["femur", "tibia", "patella", "meniscus"]
SPACING = (0.8, 1.0, 2.0)
SHAPE = (40, 36, 16)


def label_map(offset_mm: float) -> np.ndarray:
    """Femur and tibia balls, a patella box at the image border; meniscus absent."""
    labels = np.zeros(SHAPE, dtype=np.uint8)
    labels[S.ball(SHAPE, SPACING, (12 + offset_mm, 12, 16), 8)] = 1
    labels[S.ball(SHAPE, SPACING, (22, 24 - offset_mm, 14), 7)] = 2
    labels[0:6, 0:5, 4:9] = 3
    return labels


PRED, REF = label_map(1.5), label_map(0.0)


def as_table(rows) -> dict[tuple[str, str], float]:
    return {(r.metric, r.label): r.value for r in rows}


def test_every_class_matches_the_single_class_functions():
    table = as_table(segmentation_metrics(PRED, REF, SPACING, CLASSES,
                                          nsd_tolerance_mm={"femur": 1.0, "tibia": 2.0,
                                                            "patella": 0.5, "meniscus": 1.0}))
    tolerance = {"femur": 1.0, "tibia": 2.0, "patella": 0.5, "meniscus": 1.0}
    for index, name in enumerate(CLASSES, start=1):
        pred, ref = np.equal(PRED, index), np.equal(REF, index)
        counts = OverlapCounts.from_masks(pred, ref, SPACING)
        distances = surface_distances(pred, ref, SPACING)
        for metric, f in OVERLAP.items():
            assert table[metric, name] == pytest.approx(f(counts), nan_ok=True), (metric, name)
        for metric, f in SURFACE.items():
            assert table[metric, name] == pytest.approx(f(distances)), (metric, name)
        assert table["nsd", name] == pytest.approx(nsd(distances, tolerance[name]))


def test_rows_are_metric_major_with_a_mean_per_metric():
    rows = segmentation_metrics(PRED, REF, SPACING, CLASSES)
    assert [(r.metric, r.label) for r in rows] == [
        (m, label) for m in SEGMENTATION_METRICS for label in [*CLASSES, MEAN_LABEL]
    ]


def test_mean_counts_empty_classes_by_policy_and_skips_nan():
    table = as_table(segmentation_metrics(PRED, REF, SPACING, CLASSES))
    # the meniscus is absent from both: Dice 1 and HD95 0 by policy, and both count in the mean
    assert table["dice", "meniscus"] == 1.0 and table["hd95", "meniscus"] == 0.0
    assert table["dice", MEAN_LABEL] == pytest.approx(
        np.mean([table["dice", c] for c in CLASSES]))
    rel = segmentation_metrics(PRED, np.where(REF == 2, 0, REF), SPACING, CLASSES,
                               metrics=["volume_diff_rel"])
    rel = as_table(rel)
    assert math.isnan(rel["volume_diff_rel", "tibia"])  # reference empty: undefined
    assert rel["volume_diff_rel", MEAN_LABEL] == pytest.approx(
        np.mean([rel["volume_diff_rel", c] for c in ("femur", "patella", "meniscus")]))


def test_one_sided_class_gets_the_image_diagonal():
    pred = PRED.copy()
    pred[pred == 1] = 0
    table = as_table(segmentation_metrics(pred, REF, SPACING, CLASSES, metrics=["hd", "nsd"]))
    assert table["hd", "femur"] == pytest.approx(math.hypot(40 * 0.8, 36 * 1.0, 16 * 2.0))
    assert table["nsd", "femur"] == 0.0


def test_metric_subset_and_order():
    rows = segmentation_metrics(PRED, REF, SPACING, CLASSES, metrics=["hd95", "dice", "hd95"])
    assert [r.metric for r in rows] == ["hd95"] * 5 + ["dice"] * 5


def test_2d_and_integral_float_labels():
    ref = np.zeros((20, 20))
    ref[5:15, 5:12] = 1.0
    pred = np.roll(ref, 2, axis=1)
    table = as_table(segmentation_metrics(pred, ref, (0.5, 0.5), ["lesion"]))
    assert table["dice", "lesion"] == pytest.approx(2 * 50 / 140)
    assert table["hd", "lesion"] == pytest.approx(1.0)
    assert table["volume_diff", "lesion"] == 0.0


def test_bool_masks_are_one_class():
    ref = np.zeros((6, 6), dtype=bool)
    ref[1:4, 1:4] = True
    assert as_table(segmentation_metrics(ref, ref, 1.0, ["x"]))["dice", "x"] == 1.0


@pytest.mark.parametrize(
    ("pred", "match"),
    [
        (PRED[:, :, :8], "differs from reference shape"),
        (np.where(PRED == 3, 7, PRED), "label 7, outside 0..4"),
        (PRED.astype(np.int16) - 1, "label -1"),
        (PRED * 0.5, "non-integer"),
        (PRED[None], "2D or 3D"),
    ],
    ids=["shape", "label-too-high", "negative", "probabilities", "4d"],
)
def test_bad_label_maps(pred, match):
    with pytest.raises(DataError, match=match):
        segmentation_metrics(pred, REF, SPACING, CLASSES)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"metrics": ["hd59"]}, "did you mean 'hd95'"),
        ({"metrics": ["mre"]}, "landmarks metric, not a segmentation metric"),
        ({"metrics": "dice"}, "list of names"),
        ({"nsd_tolerance_mm": -1.0}, "nsd_tolerance_mm must be"),
        ({"nsd_tolerance_mm": {"femur": 1.0}}, r"missing \['tibia'"),
        ({"classes": ["a", "a", "b", "c"]}, "unique"),
        ({"classes": ["a", "mean", "b", "c"]}, "unique and not 'mean'"),
        ({"classes": []}, "non-empty"),
    ],
)
def test_bad_options(kwargs, match):
    args = {"classes": CLASSES, **kwargs}
    with pytest.raises(ConfigError, match=match):
        segmentation_metrics(PRED, REF, SPACING, **args)


def test_spacing_must_fit():
    with pytest.raises(DataError, match="3 dimensions"):
        segmentation_metrics(PRED, REF, (1.0, 1.0), CLASSES)
