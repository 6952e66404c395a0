"""Where a workspace's database is: SQLite inside the folder, or a server named by URL.

A team shares one workspace folder (artifacts) and one PostgreSQL database. The URL is taken,
first found, from the caller (``--db-url``), the ``MEDSELECT_DB_URL`` environment variable, or
the ``workspace.toml`` file the folder's creator wrote; without any, the database is the
folder's ``medselect.db``. ``workspace.toml`` never holds a password: the server's client
library reads it from ``PGPASSWORD`` or ``~/.pgpass`` on each machine, so the file can sit in a
shared folder and job payloads can carry the URL::

    # workspace.toml
    [database]
    url = "postgresql+psycopg://medselect@db.example.org:5432/medselect"
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import sqlalchemy as sa

from medselect.errors import StoreError
from medselect.store.artifacts import atomic_write_text
from medselect.store.engine import default_url, display

__all__ = ["ENV_URL", "SETTINGS_FILE", "check_recorded", "database_url", "record_database_url",
           "shareable_url"]

ENV_URL = "MEDSELECT_DB_URL"
SETTINGS_FILE = "workspace.toml"


def database_url(root: Path, url: str | sa.URL | None = None, *,
                 environment: bool = True) -> sa.URL:
    """The database URL of the workspace at ``root``: ``url``, else ``$MEDSELECT_DB_URL``, else
    ``workspace.toml``, else SQLite in the folder. A URL without a password takes the one of
    ``$MEDSELECT_DB_URL`` when that names the same database (a worker given a shareable URL).

    Args:
        environment: read ``$MEDSELECT_DB_URL``; a worker given no URL says False, so a
            long-lived worker pool never follows a variable set after it started.

    Raises:
        StoreError: ``workspace.toml`` is unreadable, or a URL is malformed.
    """
    env = os.environ.get(ENV_URL) if environment else None
    given = _parse(url or env or _recorded(root))
    if given is None:
        return default_url(root)
    if env and given.password is None and shareable_url(_parse(env)) == given:
        return _parse(env)  # the same database, with the password this machine was given
    return given


def _parse(url: str | sa.URL | None) -> sa.URL | None:
    if not url:
        return None
    try:
        return sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise StoreError(f"database URL {str(url)!r} is malformed ({exc}); write e.g. "
                         "postgresql+psycopg://USER@HOST:5432/DATABASE") from None


def shareable_url(url: str | sa.URL) -> sa.URL:
    """``url`` without its password, as it may be written to a file or sent to a worker."""
    return sa.make_url(url)._replace(password=None)  # URL.set() ignores None


def check_recorded(root: Path, url: sa.URL) -> bool:
    """Whether ``workspace.toml`` already names ``url``'s database (False: it names none).

    Raises:
        StoreError: the folder records another database.
    """
    recorded = _recorded(root)
    if recorded and sa.make_url(recorded) != shareable_url(url):
        raise StoreError(f"workspace {root} records the database {display(recorded)} in "
                         f"{SETTINGS_FILE}, not {display(shareable_url(url))}; use that URL, or "
                         "another workspace folder")
    return recorded is not None


def record_database_url(root: Path, url: sa.URL) -> None:
    """Write ``workspace.toml`` naming ``url`` (without its password) unless it names it already.

    Raises:
        StoreError: the folder records another database.
    """
    if not check_recorded(root, url):
        text = shareable_url(url).render_as_string(hide_password=False).replace('"', '\\"')
        atomic_write_text(root / SETTINGS_FILE, f'[database]\nurl = "{text}"\n')


def _recorded(root: Path) -> str | None:
    file = root / SETTINGS_FILE
    if not file.is_file():
        return None
    try:
        settings = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise StoreError(f"{file}: cannot be read ({exc}); fix it or remove it") from None
    url = settings.get("database", {}).get("url")
    if not isinstance(url, str) or not url:
        raise StoreError(f'{file}: expected [database] url = "postgresql+psycopg://..."')
    return url
