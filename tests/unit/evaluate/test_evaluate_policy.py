"""Metric policies, evaluation ids and the scoring of one case, on hand-checkable arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medselect.config import EvaluationSpec, TaskSpec
from medselect.data.loading import LoadedCase
from medselect.errors import ConfigError
from medselect.evaluate import MetricPolicy, evaluation_id, null_rows, score_case
from medselect.evaluate.artifacts import file_stem

TASK = TaskSpec(name="knee", classes=["background", "femur", "tibia"])
CASE_SET = {"id": "dv-1-test", "content_hash": "abc"}


def test_default_policy_is_the_task_kinds_metrics_with_their_definitions():
    policy = MetricPolicy.for_task(TASK)
    stored = policy.as_dict()
    assert policy.key_metric == "dice" and policy.classes == ("femur", "tibia")
    assert list(stored["metrics"]) == list(policy.metrics) == stored["order"]
    assert stored["metrics"]["hd95"]["unit"] == "mm" and "95th" in stored["metrics"]["hd95"][
        "definition"]
    assert stored["nsd_tolerance_mm"] == {"femur": 1.0, "tibia": 1.0}


def test_labelled_rows_cover_every_class_and_the_mean():
    spec = EvaluationSpec(metrics=["hd95", "dice"], nsd_tolerance_mm={"default": 2, "tibia": 0.5})
    policy = MetricPolicy.for_task(TASK, spec)
    assert policy.labelled_rows() == [("hd95", "femur"), ("hd95", "tibia"), ("hd95", "mean"),
                                      ("dice", "femur"), ("dice", "tibia"), ("dice", "mean")]
    assert policy.key_metric == "hd95" and policy.nsd_tolerance_mm == {}
    nulls = null_rows("c1", policy)
    assert len(nulls) == 6 and all(r["value"] is None and r["case_id"] == "c1" for r in nulls)
    with_nsd = MetricPolicy.for_task(TASK, EvaluationSpec(
        metrics=["nsd"], nsd_tolerance_mm={"default": 2, "tibia": 0.5}))
    assert with_nsd.nsd_tolerance_mm == {"femur": 2.0, "tibia": 0.5}


@pytest.mark.parametrize(("metrics", "message"), [
    (["dise"], "did you mean 'dice'"),
    (["auc"], "computed over many cases by ranking"),
    (["probability"], "classification metric"),
    (["mre"], "needs landmark points"),
])
def test_metrics_that_do_not_fit_are_refused(metrics, message):
    with pytest.raises(ConfigError, match=message):
        MetricPolicy.for_task(TASK, EvaluationSpec(metrics=metrics))


def test_the_evaluation_id_changes_with_model_cases_and_policy():
    policy = MetricPolicy.for_task(TASK)
    base = evaluation_id("run-a", CASE_SET, policy)
    assert base == evaluation_id("run-a", dict(CASE_SET), MetricPolicy.for_task(TASK))
    assert base.startswith("ev-") and len(base) == 19
    others = {
        evaluation_id("run-b", CASE_SET, policy),
        evaluation_id("run-a", {**CASE_SET, "id": "dv-2-test"}, policy),
        evaluation_id("run-a", {**CASE_SET, "content_hash": "abd"}, policy),
        evaluation_id("run-a", CASE_SET, MetricPolicy.for_task(TASK, EvaluationSpec(
            metrics=["dice"]))),
        evaluation_id("run-a", CASE_SET, MetricPolicy.for_task(TASK, sliding_window=True)),
        evaluation_id("run-a", CASE_SET, policy, model_fingerprint="f"),
    }
    assert base not in others and len(others) == 6


def test_a_case_is_scored_per_class_and_mean_in_mm():
    ref = np.zeros((10, 10), np.uint8)
    ref[2:6, 2:6] = 1  # femur: 16 pixels
    pred = ref.copy()
    pred[2:6, 6] = 1  # one column too wide: 20 pixels, 16 shared
    case = LoadedCase("c1", np.zeros((1, 10, 10), np.float32), (2.0, 1.0), label=ref)
    score = score_case(pred, case, MetricPolicy.for_task(TASK, EvaluationSpec(
        metrics=["dice", "hd"])))
    values = {(v.metric, v.label): v.value for v in score.values}
    assert values[("dice", "femur")] == pytest.approx(2 * 16 / 36)
    assert values[("dice", "tibia")] == 1.0  # empty on both sides: perfect
    assert values[("dice", "mean")] == pytest.approx((2 * 16 / 36 + 1) / 2)
    assert values[("hd", "femur")] == 1.0  # one pixel along y, 1 mm
    assert score.summary(MetricPolicy.for_task(TASK, EvaluationSpec(metrics=["hd", "dice"]))) \
        == {"hd": values[("hd", "mean")], "dice": values[("dice", "mean")]}


def test_landmarks_of_a_segmentation_task_are_class_centroids_in_mm():
    task = TaskSpec(name="points", classes=["background", "apex", "base"],
                    landmarks=["apex", "base"])
    policy = MetricPolicy.for_task(task, EvaluationSpec(metrics=["dice", "radial_error", "mre"]))
    ref, pred = np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8)
    ref[1, 1], pred[4, 1] = 1, 1  # apex: 3 voxels off along x
    ref[6, 6] = pred[6, 6] = 2  # base: exact
    case = LoadedCase("c1", np.zeros((1, 8, 8), np.float32), (0.5, 1.0), label=ref,
                      landmarks={"apex": (1.0, 1.0), "base": (6.0, 6.0)})
    values = {(v.metric, v.label): v.value for v in score_case(pred, case, policy).values}
    assert values[("radial_error", "apex")] == pytest.approx(1.5)  # 3 voxels x 0.5 mm
    assert values[("radial_error", "base")] == 0.0
    assert values[("mre", "mean")] == pytest.approx(0.75)
    unmarked = LoadedCase("c2", case.image, case.spacing, label=ref)
    values = {(v.metric, v.label): v.value for v in score_case(pred, unmarked, policy).values}
    assert math.isnan(values[("mre", "mean")]) and values[("dice", "mean")] < 1.0


def test_case_ids_become_safe_distinct_file_names():
    assert file_stem("site-a_p001.v2") == "site-a_p001.v2"
    assert file_stem("a/b") != file_stem("a:b") and "/" not in file_stem("a/b")
    assert not file_stem("../x").startswith(".")


LANDMARK_TASK = TaskSpec(name="knee-lm", kind="landmarks", landmarks=["apex", "base"])


def test_a_landmarks_task_scores_predicted_points_in_mm():
    policy = MetricPolicy.for_task(LANDMARK_TASK)
    assert policy.predicts_points and policy.key_metric == "mre"
    assert policy.labelled_rows()[:2] == [("radial_error", "apex"), ("radial_error", "base")]
    case = LoadedCase("c1", np.zeros((1, 8, 8), np.float32), spacing=(0.5, 2.0),
                      landmarks={"apex": (1.0, 1.0), "base": (6.0, 6.0)})
    # apex is 4 voxels off along x (2 mm), base 1 voxel off along y (2 mm)
    score = score_case(np.array([[5.0, 1.0], [6.0, 7.0]]), case, policy)
    values = {(v.metric, v.label): v.value for v in score.values}
    assert values[("radial_error", "apex")] == pytest.approx(2.0)
    assert values[("radial_error", "base")] == pytest.approx(2.0)
    assert values[("mre", "mean")] == pytest.approx(2.0)
    assert values[("sdr_2mm", "mean")] == 100.0
    assert score.pred_points == {"apex": (2.5, 2.0), "base": (3.0, 14.0)}


def test_a_landmarks_task_refuses_segmentation_metrics():
    with pytest.raises(ConfigError, match="'dice' is not a per-case landmark metric"):
        MetricPolicy.for_task(LANDMARK_TASK, EvaluationSpec(metrics=["dice"]))


CLS_TASK = TaskSpec(name="grade", kind="classification", spatial_dims=2,
                    classes=["normal", "thinning"])


def test_classification_policy_stores_the_sources_of_set_metrics():
    policy = MetricPolicy.for_task(CLS_TASK)  # default metrics include auc, ece, ...
    assert policy.metrics == ("probability", "correct", "class_probability")
    assert policy.key_metric == "probability"
    assert policy.labelled_rows() == [
        ("probability", "case"), ("correct", "case"),
        ("class_probability", "normal"), ("class_probability", "thinning")]
    only_auc = MetricPolicy.for_task(CLS_TASK, EvaluationSpec(metrics=["auc"]))
    assert only_auc.metrics == ("class_probability",)
    assert policy.as_dict()["predictions"] == "probabilities"
    with pytest.raises(ConfigError, match="classification task"):
        MetricPolicy.for_task(CLS_TASK, EvaluationSpec(metrics=["dice"]))


def test_classification_case_is_scored_from_its_target():
    policy = MetricPolicy.for_task(CLS_TASK)
    case = LoadedCase("c1", np.zeros((1, 4, 4), np.float32), (1.0, 1.0), target=1)
    score = score_case(np.array([0.75, 0.25]), case, policy)
    assert [(v.metric, v.label, v.value) for v in score.values] == [
        ("probability", "case", 0.25), ("correct", "case", 0.0),
        ("class_probability", "normal", 0.75), ("class_probability", "thinning", 0.25)]
    assert score.summary(policy) == {"probability": 0.25, "correct": 0.0}
