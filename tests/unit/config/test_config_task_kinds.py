"""``task.kind`` names a built-in kind or an installed entry point; ``task.family`` says which
built-in kind's data, metrics and dashboard a third-party kind shares."""

from __future__ import annotations

import sys

import pytest

from medselect.config import DEFAULT_METRICS, TaskKind, TaskSpec, parse_experiment
from medselect.config.task import available_task_kinds
from medselect.errors import ConfigError

DATA = "data: {source: {kind: phantom}}\n"


def task_error(task: str) -> str:
    with pytest.raises(ConfigError) as exc:
        parse_experiment(f"task: {task}\n{DATA}", "exp.yaml")
    return str(exc.value)


def test_builtin_kinds_are_their_own_family():
    task = TaskSpec(name="lm", kind="LANDMARKS", landmarks=["apex"])
    assert (task.kind, task.family) == ("landmarks", TaskKind.LANDMARKS)
    assert TaskSpec(name="k", classes=["bg", "a"], family="segmentation").family is (
        TaskKind.SEGMENTATION)


def test_unknown_kind_suggests_the_closest_and_names_the_entry_point_group():
    assert task_error("{name: knee, kind: segmentaton, classes: [bg, a]}") == (
        "exp.yaml: task.kind: unknown task kind 'segmentaton'; did you mean 'segmentation'? "
        "choose one of: classification, landmarks, segmentation (a third-party kind needs its "
        "package installed: one declaring a 'medselect.tasks' entry point) (line 1)")


def test_installed_third_party_kinds_are_known_and_suggested(keypoints_kind):
    assert keypoints_kind in available_task_kinds()
    assert "did you mean 'keypoints'? choose one of: classification, keypoints, landmarks" in (
        task_error("{name: knee, kind: keypoint, family: segmentation, classes: [bg, a]}"))


def test_a_third_party_kind_is_validated_without_loading_its_plugin(keypoints_kind):
    task = TaskSpec(name="knee", kind="KeyPoints", family="segmentation", classes=["bg", "a"])
    assert (task.kind, task.family, task.foreground) == ("keypoints", "segmentation", ["a"])
    assert "fake_medselect_plugin" not in sys.modules  # nor torch through it


def test_a_third_party_kind_without_family_is_refused(keypoints_kind):
    assert task_error("{name: knee, kind: keypoints, classes: [bg, a]}") == (
        "exp.yaml: task.family: 'keypoints' is a third-party task kind; name the built-in "
        "family whose data, metrics and dashboard it shares: one of segmentation, landmarks, "
        "classification (line 1)")


def test_a_builtin_kind_with_another_family_is_refused():
    assert task_error("{name: knee, kind: segmentation, family: landmarks, classes: [bg, a]}"
                      ) == ("exp.yaml: task.family: 'segmentation' is a built-in kind, its own "
                            "family, not 'landmarks'; leave family out (line 1)")


def test_an_unknown_family_is_named(keypoints_kind):
    assert "task.family: unknown task family 'segmentaton'; did you mean 'segmentation'?" in (
        task_error("{name: knee, kind: keypoints, family: segmentaton, classes: [bg, a]}"))


@pytest.mark.parametrize("task, fragment", [
    ("{name: knee, kind: keypoints, family: segmentation, classes: [bg]}",
     "task: a keypoints (segmentation family) task needs at least 2 classes (the background"),
    ("{name: knee, kind: keypoints, family: landmarks}",
     "task: a keypoints (landmarks family) task needs 'landmarks': the names of its points"),
])
def test_what_a_task_needs_follows_its_family(keypoints_kind, task, fragment):
    assert fragment in task_error(task)


def test_default_metrics_and_labels_follow_the_family(keypoints_kind):
    experiment = parse_experiment(
        f"task: {{name: knee, kind: keypoints, family: classification, classes: [low, high]}}\n"
        f"{DATA}", "exp.yaml")
    assert experiment.evaluation.metrics == list(DEFAULT_METRICS[TaskKind.CLASSIFICATION])
    assert experiment.task.labels() == ["low", "high", "mean", "case"]


def test_a_stored_spec_without_family_reads_as_its_kind():
    """Task rows written before families existed hold no ``family``."""
    task = TaskSpec.model_validate({"name": "knee", "kind": "landmarks", "landmarks": ["a"]})
    assert task.family is TaskKind.LANDMARKS
    assert task.model_dump(mode="json")["family"] == "landmarks"
