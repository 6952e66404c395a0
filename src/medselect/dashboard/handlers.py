"""Domain errors mapped to HTTP in one place: JSON for the API, an error page for pages.

``NotFound`` is 404, ``StoreError`` 500 (the workspace cannot be read), every other
``MedselectError`` (a request ranking cannot answer, a bad choice) 400; invalid request
fields are 422. The message is the error's own, which names what to fix.
"""

from __future__ import annotations

from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response

from medselect.dashboard.links import ServerLinks
from medselect.dashboard.render import render_page
from medselect.errors import MedselectError, NotFound, StoreError


def status_of(exc: MedselectError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, StoreError):
        return 500
    return 400


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def error_response(request: Request, status: int, message: str) -> Response:
    if is_api(request):
        return JSONResponse({"detail": message}, status_code=status)
    html = render_page("error.html", ServerLinks(), status=status,
                       reason=HTTPStatus(status).phrase, message=message)
    return HTMLResponse(html, status_code=status)


async def domain_error(request: Request, exc: MedselectError) -> Response:
    return error_response(request, status_of(exc), str(exc))


async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
    if is_api(request):
        return await request_validation_exception_handler(request, exc)
    problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}"
                         for e in exc.errors())
    return error_response(request, 422, f"the form was not accepted: {problems}")


def install(app: FastAPI) -> None:
    app.add_exception_handler(MedselectError, domain_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
