"""Layer 2: one plugin per task kind, behind one contract (:class:`TaskPlugin`).

    >>> from medselect.tasks import TaskInfo, get_task_plugin
    >>> plugin = get_task_plugin("segmentation")
    >>> plugin.out_channels(TaskInfo("segmentation", classes=("background", "femur")))
    2
"""

from medselect.tasks.base import MetricGoal, TaskInfo, TaskLike, TaskPlugin, as_task_info
from medselect.tasks.classification import ClassificationPlugin
from medselect.tasks.landmarks import LandmarksPlugin, LandmarkTarget
from medselect.tasks.plugins import (
    ENTRY_POINT_GROUP,
    available_task_kinds,
    get_task_plugin,
    plugin_for_task,
)
from medselect.tasks.segmentation import SegmentationPlugin

__all__ = [
    "ENTRY_POINT_GROUP",
    "ClassificationPlugin",
    "LandmarkTarget",
    "LandmarksPlugin",
    "MetricGoal",
    "SegmentationPlugin",
    "TaskInfo",
    "TaskLike",
    "TaskPlugin",
    "as_task_info",
    "available_task_kinds",
    "get_task_plugin",
    "plugin_for_task",
]
