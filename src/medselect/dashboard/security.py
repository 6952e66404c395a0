"""Who may talk to the dashboard, and which requests may change anything.

:class:`HostCheckMiddleware` guards a loopback server without a token against DNS rebinding
(a web page whose host name is re-pointed at 127.0.0.1 so the browser talks to this server as
if it were that site): a request must be addressed to ``127.0.0.1``, ``localhost`` or
``[::1]`` (any port), else it is refused with 400.

:class:`TokenMiddleware` guards a server other machines can reach. Every request (pages,
API, static files, artifacts, API docs) must carry the token: as
``Authorization: Bearer <token>``, as the ``medselect_token`` cookie, or once as ``?token=``
in a link (a GET is then redirected to the same URL without it, setting the cookie, so the
token does not stay in the address bar or in the history).

:class:`CsrfMiddleware` guards every state-changing request (POST, PUT, PATCH, DELETE), in
both modes, against cross-site request forgery (a page of another site, or of another port
of this host, making the user's browser post to the dashboard):

1. A browser says where a request comes from. ``Sec-Fetch-Site`` must be ``same-origin`` (or
   ``none``: the user's own action); without it, ``Origin`` must name this server's host and
   port. Anything else is refused with 403.
2. The body must be of the type the route takes (415 otherwise): JSON routes require
   ``Content-Type: application/json``, which no page of another origin can send without a
   CORS preflight this server never grants; form routes take form bodies.
3. A browser's request must also carry the form token of its session: the hidden
   ``csrf_token`` field the pages render in their forms, or the ``X-CSRF-Token`` header
   (the upload page's script sends it). The token is an HMAC of the ``medselect_session``
   cookie under a secret made when the app starts, so a cookie planted by another page of
   this host cannot be paired with a valid token; after a restart, a page is reloaded to get
   a new one (403 says so).

A request with neither ``Sec-Fetch-Site`` nor ``Origin`` was not sent by a browser (every
current browser sends at least one of them with a POST): a script with curl or httpx. It
needs no form token; in token mode, :class:`TokenMiddleware` has already required the access
token of it, and on loopback any program of this machine may use the dashboard as the user.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from typing import Annotated
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from starlette.datastructures import URL, MutableHeaders
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from medselect.dashboard.handlers import error_response

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


UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SAME_ORIGIN_SITES = frozenset({"same-origin", "none"})
"""``Sec-Fetch-Site`` values of a request this server's own pages (or the user) made."""
SESSION_COOKIE = "medselect_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
JSON_TYPE = "application/json"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
MAX_FORM_BYTES = 1 << 20
"""The most a URL-encoded form may hold (it is read here to find its token)."""
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{43}")
_STATE_KEY = "csrf"


class CsrfSession:
    """The browser session of one request: the session cookie's random id (None until a page
    asks for a token, when one is issued) and the form token derived from it."""

    def __init__(self, secret: bytes, session_id: str | None) -> None:
        self._secret = secret
        self.session_id = session_id
        self.issued = False

    def token(self) -> str:
        """The session's form token; issues a session (the cookie goes with the response)
        when the browser sent none."""
        if self.session_id is None:
            self.session_id = secrets.token_urlsafe(32)
            self.issued = True
        return self._sign(self.session_id)

    def accepts(self, token: str) -> bool:
        return self.session_id is not None and hmac.compare_digest(
            token.encode(), self._sign(self.session_id).encode())

    def _sign(self, session_id: str) -> str:
        digest = hmac.new(self._secret, session_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def csrf_token(request: Request) -> str:
    """The form token a page renders into its forms (see :class:`CsrfMiddleware`)."""
    return request.state.csrf.token()


CsrfTokenDep = Annotated[str, Depends(csrf_token)]


class CsrfMiddleware:
    """Refuse state-changing requests another site could have made (see the module).

    Args:
        app: the app to guard.
        secret: the key of the form tokens; a new random one per app.
        routes: the app's routes, whose declared bodies say which content type each takes.
    """

    def __init__(self, app: ASGIApp, secret: bytes, routes: Iterable[BaseRoute]) -> None:
        self.app = app
        self.secret = secret
        self.bodies = [(route, _body_type(route)) for route in routes
                       if isinstance(route, APIRoute) and route.methods & UNSAFE_METHODS]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        cookie = conn.cookies.get(SESSION_COOKIE, "")
        session = CsrfSession(self.secret, cookie if _SESSION_ID.fullmatch(cookie) else None)
        scope.setdefault("state", {})[_STATE_KEY] = session
        if scope["method"] in UNSAFE_METHODS:
            expected = next((body for route, body in self.bodies
                             if route.matches(scope)[0] is Match.FULL), None)
            status, message, receive = await _forgery_check(conn, session, expected, receive)
            if status:
                await error_response(Request(scope), status, message)(scope, receive, send)
                return

        async def send_with_session(message: Message) -> None:
            if message["type"] == "http.response.start" and session.issued:
                MutableHeaders(scope=message).append(
                    "set-cookie", f"{SESSION_COOKIE}={session.session_id}; Path=/; HttpOnly; "
                                  "SameSite=Strict")
            await send(message)

        await self.app(scope, receive, send_with_session)


def _body_type(route: APIRoute) -> str | None:
    """The media type of the body ``route`` takes: FastAPI's for a declared body (JSON for a
    model, a form for ``Form`` fields), else the one the route documents (the upload, which
    parses its body itself to apply its limits); None: no body."""
    if route.body_field is not None:
        return route.body_field.field_info.media_type
    content = (route.openapi_extra or {}).get("requestBody", {}).get("content", {})
    return next(iter(content), None)


async def _forgery_check(conn: HTTPConnection, session: CsrfSession, expected: str | None,
                         receive: Receive) -> tuple[int, str, Receive]:
    """(status, message, receive) refusing the request, or (0, "", receive) letting it pass;
    ``expected``: the body type of the route; ``receive`` replays a body read here."""
    site, origin = conn.headers.get("sec-fetch-site"), conn.headers.get("origin")
    if _cross_origin(site, origin, conn.headers.get("host", "")):
        came_from = f"Origin {origin!r}" if site is None else f"Sec-Fetch-Site {site!r}"
        return 403, (f"cross-origin request refused ({came_from}): this dashboard accepts "
                     "changes only from its own pages; open the dashboard itself and submit "
                     "there"), receive
    problem = _body_type_problem(conn, expected)
    if problem:
        return 415, problem, receive
    if site is None and origin is None:  # not a browser (see the module)
        return 0, "", receive
    token = conn.headers.get(CSRF_HEADER)
    if token is None and _media_type(conn) == FORM_TYPES[0]:
        body, receive = await _read_body(receive)
        if body is None:
            return 413, f"the form is larger than {MAX_FORM_BYTES // 1024} KiB", receive
        token = next(iter(parse_qs(body.decode("latin-1")).get(CSRF_FIELD, [])), None)
    if token is None or not session.accepts(token):
        return 403, ("this form's security token is missing or out of date (the server may "
                     "have restarted); reload the page and submit again"), receive
    return 0, "", receive


def _cross_origin(site: str | None, origin: str | None, host: str) -> bool:
    if site is not None:
        return site not in SAME_ORIGIN_SITES
    return origin is not None and urlsplit(origin).netloc.lower() != host.lower()


def _media_type(conn: HTTPConnection) -> str:
    return conn.headers.get("content-type", "").partition(";")[0].strip().lower()


def _body_type_problem(conn: HTTPConnection, expected: str | None) -> str | None:
    """Why the request's body is not of the ``expected`` type; None when it is (or the route
    takes no body, or there is no such route: the router answers 404 or 405)."""
    given = _media_type(conn)
    sent = f"this request sent {given or 'no Content-Type'}"
    if expected is None:
        return None
    if expected == JSON_TYPE:
        if given == JSON_TYPE or (given.startswith("application/") and given.endswith("+json")):
            return None
        return (f"{conn.url.path} takes JSON: send the body with the header 'Content-Type: "
                f"{JSON_TYPE}' ({sent})")
    if expected in FORM_TYPES and given in FORM_TYPES:
        return None
    return f"{conn.url.path} takes a form ({expected}; {sent}): submit the dashboard's form"


async def _read_body(receive: Receive) -> tuple[bytes | None, Receive]:
    """The whole body (None beyond :data:`MAX_FORM_BYTES`) and a ``receive`` that replays it."""
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > MAX_FORM_BYTES:
            return None, receive
        more = message.get("more_body", False)
    body, replayed = b"".join(chunks), False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return body, replay
