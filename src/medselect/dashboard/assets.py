"""Static files (styles, scripts, the vendored plotly.js and Niivue): the URLs pages link them
by, and the HTTP caching those URLs allow.

A page links a static file with a hash of its content in the query
(``/static/app.js?v=1a2b3c4d5e6f``), so a browser keeps it for a year without asking again
(``Cache-Control: public, max-age=31536000, immutable``): a changed file has another hash, hence
another URL, and is fetched anew. A request without the current hash (a page from an older
release, a typed URL) gets ``Cache-Control: no-cache``: the browser asks each time and is
answered ``304 Not Modified`` while its copy is current (the ``ETag`` Starlette sends).
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path
from urllib.parse import parse_qs

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from medselect.dashboard.render import STATIC

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
VERSION_PARAMETER = "v"


def asset_version(path: Path) -> str:
    """A short hash of the file's content (recomputed when its size or time changes)."""
    stat = path.stat()
    return _digest(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=64)
def _digest(path: str, mtime_ns: int, size: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def static_url(name: str) -> str:
    """The URL of static file ``name`` (relative to the static folder) with its version."""
    return f"/static/{name}?{VERSION_PARAMETER}={asset_version(STATIC / name)}"


class CachedStaticFiles(StaticFiles):
    """Starlette's static files with ``Cache-Control``: immutable when asked for by the current
    version, revalidated otherwise."""

    def file_response(self, full_path: str | os.PathLike[str], stat_result: os.stat_result,
                      scope: Scope, status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        asked = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        current = _digest(str(full_path), stat_result.st_mtime_ns, stat_result.st_size)
        fresh = asked.get(VERSION_PARAMETER) == [current]
        response.headers["Cache-Control"] = IMMUTABLE if fresh else REVALIDATE
        return response
