"""Security headers on every response: pages, JSON, static files, artifacts, refusals, errors.

The Content-Security-Policy lets a page run scripts only from this server (the pages have no
inline script; their chart data sit in JSON blocks, which are never run); load styles from it
plus inline ``style`` attributes (the leaderboard's interval bars, and Plotly, which styles its
charts that way); load images from it and ``data:`` URLs (Plotly draws heatmaps as such
images); connect (``fetch``) and submit forms only to it; and never be framed
(``frame-ancestors 'none'``, and ``X-Frame-Options`` for browsers that predate it). A
response that sets its own policy (a decision report's stricter, sandboxed one) keeps it.
``Referrer-Policy: same-origin`` keeps the dashboard's URLs from other sites while a POST still
carries its ``Origin`` (``no-referrer`` would turn it into ``null``), and
``Cross-Origin-Resource-Policy`` keeps other sites from loading its images and data.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "form-action 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
])
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class SecurityHeadersMiddleware:
    """Add :data:`SECURITY_HEADERS` to every HTTP response that lacks them; answer an
    unhandled error itself (a plain 500 with the headers) before passing the error on to be
    logged, since Starlette's own 500 would be sent around this middleware."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            if not started:
                await PlainTextResponse("Internal Server Error", status_code=500)(
                    scope, receive, send_with_headers)
            raise
