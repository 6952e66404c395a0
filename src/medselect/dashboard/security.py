"""Who may talk to the dashboard: a token off loopback, a Host check on loopback.

:class:`HostCheckMiddleware` guards a loopback server without a token against DNS rebinding
(a web page whose host name is re-pointed at 127.0.0.1 so the browser talks to this server as
if it were that site): a request must be addressed to ``127.0.0.1``, ``localhost`` or
``[::1]`` (any port), else it is refused with 400.

:class:`TokenMiddleware` guards a server other machines can reach. Every request (pages,
API, static files, artifacts, API docs) must carry the token: as
``Authorization: Bearer <token>``, as the ``medselect_token`` cookie, or once as ``?token=``
in a link (a GET is then redirected to the same URL without it, setting the cookie, so the
token does not stay in the address bar or in the history).
"""

from __future__ import annotations

import re
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


LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]"})
_HOST = re.compile(r"(?P<name>\[[0-9a-fA-F:.]+\]|[^:\[\]]+)(?::(?P<port>[0-9]{1,5}))?")


def host_name(header: str) -> str | None:
    """The lower-cased name part of a ``Host`` header (``[::1]:8000`` -> ``[::1]``), or None
    when the header is malformed."""
    match = _HOST.fullmatch(header.strip())
    return match["name"].lower() if match else None


class HostCheckMiddleware:
    """Refuse (400) every request whose ``Host`` is not a loopback name.

    Args:
        app: the app to guard.
        allowed: extra names to accept besides :data:`LOOPBACK_NAMES` (the bound address).
    """

    def __init__(self, app: ASGIApp, allowed: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.allowed = LOOPBACK_NAMES | {name.lower() for name in allowed}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        header = HTTPConnection(scope).headers.get("host", "")
        if host_name(header) in self.allowed:
            await self.app(scope, receive, send)
            return
        message = (f"this dashboard only answers requests addressed to 127.0.0.1, localhost or "
                   f"[::1], not {header[:100]!r} (a guard against DNS rebinding); open it as "
                   "http://127.0.0.1:<port>/, or bind another address with an access token")
        await PlainTextResponse(message, status_code=400)(scope, receive, send)


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
