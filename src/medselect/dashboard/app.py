"""The FastAPI application: built by :func:`create_app`, nothing created at import time."""

from __future__ import annotations

import secrets
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from medselect.dashboard import handlers
from medselect.dashboard.assets import CachedStaticFiles
from medselect.dashboard.context import Dashboard
from medselect.dashboard.headers import SecurityHeadersMiddleware
from medselect.dashboard.render import STATIC
from medselect.dashboard.routes import ROUTERS
from medselect.dashboard.security import CsrfMiddleware, HostCheckMiddleware, TokenMiddleware
from medselect.dashboard.settings import DashboardSettings, url_host
from medselect.dashboard.upload_expiry import expire_stored_uploads
from medselect.dashboard.upload_queue import UploadJobs
from medselect.dashboard.views.leaderboard import warm_up
from medselect.store import Workspace


def create_app(settings: DashboardSettings, workspace: Workspace | None = None) -> FastAPI:
    """The dashboard app for ``settings.workspace``.

    Every response carries the security headers (:mod:`.headers`); requests are checked, in
    this order, for the access token or a loopback Host (:mod:`.security`), then, when they
    change anything, for cross-site forgery. Stored uploads past their age or the
    workspace's cap expire when the app starts (and at each upload).

    Args:
        settings: where the workspace is, the bind host and the token (see
            :class:`DashboardSettings`).
        workspace: an already open workspace to use (it is then not disposed by the app);
            by default the app opens ``settings.workspace`` and disposes it on shutdown.

    Raises:
        ConfigError: the host is not loopback and no token is set.
        StoreError: there is no workspace at ``settings.workspace``.
    """
    settings.check()
    owned = workspace is None
    if workspace is None:
        workspace = Workspace.open(settings.workspace, settings.database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        expire_stored_uploads(workspace, settings)
        if settings.warm_up:
            threading.Thread(target=warm_up, args=(app.state.dashboard,), daemon=True,
                             name="medselect-warm-up").start()
        yield
        if owned:
            workspace.dispose()

    app = FastAPI(title="medselect dashboard", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Leaderboards, model pages, case galleries and expert reviews of "
                              "a medselect workspace. Artifacts (overlays, thumbnails) are "
                              "served at /artifacts/<uri> for the *_uri fields. The routes are "
                              "listed at /api (no Swagger UI: it would need a CDN).")
    app.state.dashboard = Dashboard(workspace, settings)
    app.state.uploads = UploadJobs(settings.max_pending_uploads)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", CachedStaticFiles(directory=STATIC), name="static")
    handlers.install(app)
    app.add_middleware(CsrfMiddleware, secret=secrets.token_bytes(32),
                       routes=[route for router in ROUTERS for route in router.routes])
    if settings.requires_token:
        app.add_middleware(TokenMiddleware, token=settings.token)
    else:
        app.add_middleware(HostCheckMiddleware, allowed=frozenset({url_host(settings.host)}))
    app.add_middleware(SecurityHeadersMiddleware)  # the last added runs first
    return app
