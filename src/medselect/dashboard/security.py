"""Access token check for a dashboard that other machines can reach.

Every request (pages, API, static files, artifacts, API docs) must carry the token: as
``Authorization: Bearer <token>``, as the ``medselect_token`` cookie, or once as ``?token=``
in a link (a GET is then redirected to the same URL without it, setting the cookie, so the
token does not stay in the address bar or in the history).
"""

from __future__ import annotations

import secrets
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import URL
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

COOKIE = "medselect_token"
QUERY = "token"
MISSING = ("this dashboard needs its access token: open the link `medselect serve` printed "
           "(it ends in ?token=...), or send the header 'Authorization: Bearer <token>'")


class TokenMiddleware:
    """Refuse (401) every HTTP request that does not carry ``token``."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        in_query = conn.query_params.get(QUERY)
        if in_query is not None and self._valid(in_query) and scope.get("method") in ("GET",
                                                                                       "HEAD"):
            await self._redirect_without_token(conn.url)(scope, receive, send)
            return
        scheme, _, bearer = conn.headers.get("authorization", "").partition(" ")
        given = [bearer if scheme.lower() == "bearer" else None, conn.cookies.get(COOKIE),
                 in_query]
        if any(self._valid(value) for value in given):
            await self.app(scope, receive, send)
            return
        await _refusal(conn.url.path)(scope, receive, send)

    def _valid(self, value: str | None) -> bool:
        return value is not None and secrets.compare_digest(value.encode(), self.token.encode())

    def _redirect_without_token(self, url: URL) -> Response:
        query = urlencode([(k, v) for k, v in parse_qsl(url.query, keep_blank_values=True)
                           if k != QUERY])
        response = RedirectResponse(str(url.replace(query=query)), status_code=303)
        response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict")
        return response


def _refusal(path: str) -> Response:
    headers = {"WWW-Authenticate": "Bearer"}
    if path.startswith("/api/") or path == "/openapi.json":
        return JSONResponse({"detail": MISSING}, status_code=401, headers=headers)
    return PlainTextResponse(MISSING, status_code=401, headers=headers)
