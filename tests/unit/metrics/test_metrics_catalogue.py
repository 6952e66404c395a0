"""Every registered metric honours the same contract (one shared check, as scikit-learn)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import medselect.metrics as metrics
from medselect.errors import ConfigError
from medselect.metrics import (
    METRICS,
    SEGMENTATION_METRICS,
    SET_METRICS,
    Direction,
    EmptyMaskPolicy,
    EmptyRule,
    Family,
    MetricSpec,
    Unit,
    directions,
    get_metric,
    metrics_of,
)


@pytest.mark.parametrize("name", list(METRICS))
def test_spec_contract(name):
    spec = METRICS[name]
    assert isinstance(spec, MetricSpec) and spec.name == name
    assert isinstance(spec.family, Family)
    assert isinstance(spec.direction, Direction)
    assert isinstance(spec.unit, Unit)
    assert len(spec.definition) > 40 and spec.definition.endswith(".")
    stored = json.dumps(spec.as_dict(), allow_nan=False)  # storable as strict JSON
    assert json.loads(stored)["name"] == name
    if spec.family in (Family.CLASSIFICATION, Family.REVIEW):  # no masks
        assert spec.empty is None
    else:
        assert spec.empty is not None
        assert EmptyMaskPolicy.from_dict(spec.as_dict()["empty"]) == spec.empty


def test_families_and_names():
    assert SEGMENTATION_METRICS == (
        "dice", "iou", "precision", "sensitivity", "volume_diff", "volume_diff_rel",
        "hd", "hd95", "assd", "nsd",
    )
    landmark_names = [s.name for s in metrics_of(Family.LANDMARKS)]
    assert landmark_names == ["radial_error", "mre", "sdr_2mm", "sdr_2.5mm", "sdr_3mm", "sdr_4mm"]
    per_case = [s.name for s in metrics_of(Family.CLASSIFICATION) if s.per_case]
    assert per_case == ["probability", "correct", "class_probability"]


def test_set_metrics_read_per_case_sources():
    for name, set_metric in SET_METRICS.items():
        assert not get_metric(name).per_case and set_metric.spec is get_metric(name)
        assert get_metric(set_metric.source).per_case
    # a table with class probabilities can be ranked by AUC, ECE, ...; one with only
    # `correct` by balanced accuracy
    assert directions(["class_probability"])["ece"] == "lower"
    assert set(directions(["correct"])) == {"correct", "balanced_accuracy"}


def test_directions_and_units():
    assert get_metric("dice").direction is Direction.HIGHER
    assert get_metric("hd95").direction is Direction.LOWER
    assert get_metric("hd95").unit is Unit.MM
    assert get_metric("volume_diff").unit_for(3) is Unit.MM3
    assert get_metric("volume_diff").unit_for(2) is Unit.MM2
    assert get_metric("sdr_2mm").unit is Unit.PERCENT


def test_empty_policies_are_stated():
    assert get_metric("dice").empty.as_dict() == {
        "both_empty": 1.0, "pred_empty": 0.0, "ref_empty": 0.0}
    assert get_metric("hd95").empty.as_dict() == {
        "both_empty": 0.0, "pred_empty": "image_diagonal", "ref_empty": "image_diagonal"}
    assert get_metric("volume_diff_rel").empty.ref_empty is EmptyRule.NAN


def test_policy_needs_the_diagonal_when_it_uses_it():
    policy = get_metric("hd").empty
    assert policy.resolve(pred_empty=True, ref_empty=False, image_diagonal_mm=12.0) == 12.0
    assert policy.resolve(pred_empty=False, ref_empty=False) is None
    with pytest.raises(ValueError, match="image_diagonal_mm"):
        policy.resolve(pred_empty=True, ref_empty=False)


def test_unknown_metric_suggests_the_closest():
    with pytest.raises(ConfigError, match="unknown metric 'hd59'; did you mean 'hd95'"):
        get_metric("hd59")
    with pytest.raises(ValueError, match="choose one of: dice, iou"):
        get_metric("zzz")


def test_public_api():
    assert sorted(metrics.__all__) == sorted([
        "CASE_LABEL", "EQUIVALENCE_MARGINS", "MEAN_LABEL", "METRICS", "SDR_RADII_MM",
        "SEGMENTATION_METRICS", "SET_METRICS", "SetMetric", "Direction", "EmptyMaskPolicy",
        "EmptyRule", "Family", "MetricSpec", "MetricValue", "OverlapCounts", "SurfaceDistances",
        "Unit", "auc", "balanced_accuracy", "boundary", "centroids_from_labels",
        "classification_case_metrics", "directions", "expected_calibration_error", "get_metric",
        "image_diagonal_mm", "margins", "landmark_metrics", "mean_radial_error", "mean_recall",
        "metrics_of",
        "radial_errors", "segmentation_metrics", "sensitivity_at_threshold",
        "specificity_at_threshold", "success_detection_rate", "surface_distances",
    ])
    assert all(hasattr(metrics, name) for name in metrics.__all__)


def test_importing_metrics_loads_neither_torch_nor_monai():
    code = ("import sys, medselect.metrics; "
            "print(sorted(m for m in ('torch', 'monai') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_default_margin_names_a_metric_and_overrides_win():
    assert set(metrics.EQUIVALENCE_MARGINS) <= set(metrics.METRICS)
    assert metrics.margins(["dice", "volume_diff"]) == {"dice": 0.02}
    assert metrics.margins(["class_probability"])["auc"] == 0.02  # a set metric's source
    assert metrics.margins(["dice"], {"dice": 0.02, "weighted_rank": 0.1}) == {
        "dice": 0.02, "weighted_rank": 0.1}
