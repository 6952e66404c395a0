"""``/api``: the JSON API's routes on one page, from the app's OpenAPI schema.

The dashboard serves no Swagger UI (``/docs``): it would load its scripts from a CDN, and the
dashboard must work with no internet. The machine-readable schema stays at ``/openapi.json``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from medselect.dashboard.links import ServerLinks
from medselect.dashboard.render import render_page
from medselect.dashboard.schemas import ApiRoute

router = APIRouter(include_in_schema=False)


def api_routes(schema: dict) -> list[ApiRoute]:
    """Every operation of an OpenAPI ``schema``, in path order."""
    routes = []
    for path, operations in sorted(schema.get("paths", {}).items()):
        for method, operation in operations.items():
            parameters = [p["name"] for p in operation.get("parameters", [])]
            routes.append(ApiRoute(
                method=method.upper(), path=path, tag=(operation.get("tags") or [""])[0],
                summary=(operation.get("description") or operation.get("summary", "")
                         ).strip().split("\n")[0].replace("``", ""),
                parameters=parameters))
    return routes


@router.get("/api", response_class=HTMLResponse)
def api_index(request: Request) -> HTMLResponse:
    return HTMLResponse(render_page("api.html", ServerLinks(),
                                    api_routes(request.app.openapi())))
