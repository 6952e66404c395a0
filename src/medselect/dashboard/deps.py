"""Typed dependencies of the routes (FastAPI full-stack-template style).

Everything hangs off the :class:`~medselect.dashboard.context.Dashboard` that
:func:`~medselect.dashboard.create_app` puts in ``app.state``; tests may swap any of these
with ``app.dependency_overrides``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from medselect.dashboard.context import Dashboard
from medselect.store import Workspace


def get_dashboard(request: Request) -> Dashboard:
    return request.app.state.dashboard


DashboardDep = Annotated[Dashboard, Depends(get_dashboard)]


def get_workspace(dash: DashboardDep) -> Workspace:
    return dash.workspace


WorkspaceDep = Annotated[Workspace, Depends(get_workspace)]


def get_conn(workspace: WorkspaceDep) -> Iterator[sa.Connection]:
    """A read connection for the request (writes open their own transaction)."""
    with workspace.connect() as conn:
        yield conn


ConnDep = Annotated[sa.Connection, Depends(get_conn)]


class BoardParams(BaseModel):
    """What a leaderboard shows; every field has a default (see the leaderboard view)."""

    case_set: str | None = None
    metric: str | None = None
    label: str | None = None
    aggregate: str | None = None
    site: str | None = None


BoardQuery = Annotated[BoardParams, Query()]


def json_response(model: BaseModel, status_code: int = 200) -> Response:
    """Serialise a response model directly (pydantic's JSON, no re-validation)."""
    return Response(model.model_dump_json(), status_code=status_code,
                    media_type="application/json")
