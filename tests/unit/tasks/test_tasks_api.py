"""The public face of ``medselect.tasks``."""

import medselect.tasks


def test_public_api():
    assert sorted(medselect.tasks.__all__) == [
        "ClassificationPlugin", "ENTRY_POINT_GROUP", "LandmarkTarget", "LandmarksPlugin",
        "MetricGoal",
        "SegmentationPlugin", "TaskInfo", "TaskLike", "TaskPlugin", "as_task_info",
        "available_task_kinds", "get_task_plugin", "plugin_for_task",
    ]
    assert all(hasattr(medselect.tasks, name) for name in medselect.tasks.__all__)
