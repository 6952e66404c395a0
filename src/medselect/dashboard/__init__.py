"""The dashboard: a FastAPI app over a workspace, and the same pages as a static folder.

Layer 5: reads the store, ``medselect.choose``, ``medselect.rank`` and ``medselect.registry``,
so its leaderboards rank and choose exactly as ``medselect rank`` does and its registry page
shows the budgets ``medselect registry show`` prints; imports no torch. Pages, JSON API
(``/api/``, listed at ``/api``, schema at ``/openapi.json``) and the static export share one
code path (:mod:`.views`).

Example::

    app = create_app(DashboardSettings(workspace=Path("medselect-workspace")))
    uvicorn.run(app, host="127.0.0.1", port=8000)
    export_static(Workspace.open("medselect-workspace"), "report")
"""

from medselect.dashboard.app import create_app
from medselect.dashboard.export import export_static
from medselect.dashboard.settings import (
    DashboardSettings,
    ensure_token,
    is_loopback,
    new_token,
    server_urls,
)

__all__ = [
    "DashboardSettings",
    "create_app",
    "ensure_token",
    "export_static",
    "is_loopback",
    "new_token",
    "server_urls",
]
