"""Looking plugins up by kind, including third-party ones from entry points."""

from __future__ import annotations

import pytest

from medselect.errors import ConfigError
from medselect.tasks import (
    ENTRY_POINT_GROUP,
    SegmentationPlugin,
    TaskInfo,
    as_task_info,
    available_task_kinds,
    get_task_plugin,
)

PLUGIN_MODULE = '''
from medselect.tasks import SegmentationPlugin


class KeypointPlugin(SegmentationPlugin):
    kind = "keypoints"


NotAPlugin = object()
'''


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """A fake installed distribution declaring two ``medselect.tasks`` entry points."""
    (tmp_path / "fake_medselect_plugin.py").write_text(PLUGIN_MODULE)
    info = tmp_path / "fake_medselect_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-medselect-plugin\n"
                                   "Version: 0.1\n")
    (info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\n"
        "keypoints = fake_medselect_plugin:KeypointPlugin\n"
        "broken = fake_medselect_plugin:NotAPlugin\n"
        "missing = no_such_module_here:Plugin\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))


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
    assert get_task_plugin("keypoints").kind == "keypoints"


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
