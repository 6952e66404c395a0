"""Looking plugins up by kind, including third-party ones from entry points."""

from __future__ import annotations

import pytest

from medselect.config import TaskSpec
from medselect.errors import ConfigError
from medselect.tasks import (
    SegmentationPlugin,
    TaskInfo,
    as_task_info,
    available_task_kinds,
    get_task_plugin,
    plugin_for_task,
)

PLUGIN = "fake_medselect_plugin"


@pytest.fixture
def installed(install_task_plugins):
    """A fake installed distribution declaring four ``medselect.tasks`` entry points."""
    install_task_plugins({
        "keypoints": f"{PLUGIN}:KeypointPlugin",
        "pointmaps": f"{PLUGIN}:LandmarkFamilyPlugin",
        "broken": f"{PLUGIN}:NotAPlugin",
        "missing": "no_such_module_here:Plugin",
    })


def test_builtin_segmentation():
    assert isinstance(get_task_plugin("segmentation"), SegmentationPlugin)
    assert isinstance(get_task_plugin(" Segmentation "), SegmentationPlugin)


def test_unknown_kind_suggests_the_closest():
    with pytest.raises(ConfigError, match="kind 'segmentaton'; did you mean 'segmentation'"):
        get_task_plugin("segmentaton")


def test_a_kind_without_a_plugin_lists_the_installed_ones():
    with pytest.raises(ConfigError, match=r"kind 'seg3d'; installed kinds: classification, lan"):
        get_task_plugin("seg3d")


def test_entry_points_register_third_party_kinds(installed):
    assert {"keypoints", "segmentation"} <= set(available_task_kinds())
    plugin = get_task_plugin("keypoints")
    assert (plugin.kind, plugin.family) == ("keypoints", "segmentation")  # family inherited


def test_builtin_plugins_are_their_own_family():
    for kind in ("segmentation", "landmarks", "classification"):
        assert get_task_plugin(kind).family == kind


def test_plugin_for_task_checks_the_family(installed):
    task = TaskSpec(name="knee", kind="keypoints", family="segmentation", classes=["bg", "a"])
    assert plugin_for_task(task).kind == "keypoints"
    # the YAML says segmentation, the plugin says landmarks: refused before any training
    wrong = TaskSpec(name="knee", kind="pointmaps", family="segmentation", classes=["bg", "a"])
    with pytest.raises(ConfigError, match=r"task.family: task 'knee' says kind 'pointmaps' is "
                                          r"of family 'segmentation', but its plugin "
                                          r"fake_medselect_plugin.LandmarkFamilyPlugin declares "
                                          r"family 'landmarks'"):
        plugin_for_task(wrong)


def test_broken_entry_points_are_named(installed):
    with pytest.raises(ConfigError, match=r"entry point 'broken' .* must name a TaskPlugin"):
        get_task_plugin("broken")
    with pytest.raises(ConfigError, match=r"entry point 'missing' .* cannot be loaded"):
        get_task_plugin("missing")


def test_task_info_reads_specs_objects_and_mappings():
    class Spec:
        name, kind, spatial_dims, in_channels = "knee", "segmentation", 3, 2
        classes = ("background", "femur")
        landmarks = ()

    info = as_task_info(Spec())
    assert info == TaskInfo("segmentation", 3, 2, ("background", "femur"), (), "knee")
    assert as_task_info({"kind": "segmentation", "classes": ["bg", "x"]}).spatial_dims == 2
    with pytest.raises(ConfigError, match="task 'knee': spatial_dims must be 2 or 3, got 4"):
        TaskInfo("segmentation", spatial_dims=4, name="knee")
