"""The dashboard's application object: the workspace, the settings and the caches (results,
and the case viewer's volumes).

One :class:`Dashboard` per app (FastAPI's ``app.state``) or per static export; every view takes
it explicitly, so the pages, the JSON API and the export share one code path and no global.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from medselect.dashboard.cache import ResultCache
from medselect.dashboard.settings import DashboardSettings
from medselect.dashboard.volumes import VolumeCache
from medselect.store import Workspace


@dataclass
class Dashboard:
    """What every view needs besides a database connection."""

    workspace: Workspace
    settings: DashboardSettings
    cache: ResultCache = field(init=False)
    volumes: VolumeCache = field(init=False, default_factory=VolumeCache)

    def __post_init__(self) -> None:
        self.cache = ResultCache(self.settings.cache_size)
