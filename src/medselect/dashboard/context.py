"""The dashboard's application object: the workspace, the settings and the caches (results,
the per-case tables they are computed from, and the case viewer's volumes).

One :class:`Dashboard` per app (FastAPI's ``app.state``) or per static export; every view takes
it explicitly, so the pages, the JSON API and the export share one code path and no global.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from medselect.choose import RankingInputs
from medselect.dashboard.cache import ResultCache
from medselect.dashboard.settings import DashboardSettings
from medselect.dashboard.volumes import VolumeCache
from medselect.rank import ScoreMatrix
from medselect.store import Workspace

T = TypeVar("T")

TABLE_CACHE_BYTES = 512 * 2**20
"""How much of the per-case table (read per metric and label, and pivoted) the dashboard keeps
in memory, apart from the computed results: a metric and label of 200 models x 2000 cases
weighs about 25 MB read, 3 MB pivoted."""


@dataclass
class Dashboard:
    """What every view needs besides a database connection.

    ``frozen``: the workspace does not change while this object lives (a static export, which
    renders hundreds of pages of one state), so what a page looks up to key its results (a case
    set's scope, the task's rules, the evaluated case sets) is looked up once instead of once
    per page (:meth:`looked_up`).
    """

    workspace: Workspace
    settings: DashboardSettings
    frozen: bool = False
    cache: ResultCache = field(init=False)
    tables: ResultCache = field(init=False)
    volumes: VolumeCache = field(init=False, default_factory=VolumeCache)
    lookups: dict[Hashable, Any] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.cache = ResultCache(self.settings.cache_size)
        self.tables = ResultCache(TABLE_CACHE_BYTES, weigh=_nbytes)

    def looked_up(self, key: Hashable, lookup: Callable[[], T]) -> T:
        """``lookup()``: every time on a live dashboard (the workspace may have changed since),
        once per ``key`` on a frozen one."""
        if not self.frozen:
            return lookup()
        if key not in self.lookups:
            self.lookups[key] = lookup()
        return self.lookups[key]


def _nbytes(value: RankingInputs | ScoreMatrix) -> int:
    if isinstance(value, RankingInputs):
        return value.nbytes()
    return value.values.nbytes + value.imputed.nbytes
