"""The workspace: one folder holding artifacts and (by default) the database that indexes them.

Artifacts live under the folder and the database stores their paths relative to it, so a
workspace can be moved or shared as one unit. There is no global engine: every caller holds a
:class:`Workspace` and passes its connections explicitly.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePath

import sqlalchemy as sa

from medselect.errors import SchemaVersionError, StoreError
from medselect.store.engine import (
    DB_FILENAME,
    WRITE_OPTION,
    display,
    make_engine,
    probe_schema_version,
    read_schema_version,
    serialize,
)
from medselect.store.location import check_recorded, database_url, record_database_url
from medselect.store.migrations import STEPS, UPGRADE_COMMAND
from medselect.store.schema import SCHEMA_VERSION, meta, metadata

_CREATE_HINT = "run `medselect data synth-knee` or `medselect data import` first to create one"


class Workspace:
    """A workspace folder and its database engine.

    Build one with :meth:`create` or :meth:`open`; the constructor does no I/O.

    Args:
        root: absolute path of the workspace folder.
        engine: engine of the workspace database.

    Example::

        ws = Workspace.create(tmp_path / "ws")
        with ws.begin() as conn:
            put_task(conn, "knee", "segmentation")
        ws.dispose()
    """

    def __init__(self, root: Path, engine: sa.Engine) -> None:
        self.root = root
        self.engine = engine

    @classmethod
    def create(cls, root: str | os.PathLike[str], url: str | sa.URL | None = None) -> Workspace:
        """Make the folder and the schema, recording the schema version; reuse them if present.

        Args:
            url: the database (see :mod:`medselect.store.location`); a server's URL is recorded
                in the folder's ``workspace.toml`` (without its password) for the next opener.

        Raises:
            StoreError: the folder cannot be made, the database cannot be read, or the folder
                records another database.
            SchemaVersionError: the database exists with another schema version (left as is).
        """
        root = _absolute(root)
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create workspace folder {root}: {exc}") from exc
        url = database_url(root, url)
        server = url.get_backend_name() != "sqlite"
        if server:
            check_recorded(root, url)
        _check_version(probe_schema_version(url), url, root)
        workspace = cls(root, make_engine(url))
        try:
            with workspace.begin() as conn:  # re-read under the write lock: creators may race
                serialize(conn, "schema")
                stored = read_schema_version(conn)
                _check_version(stored, url, root)
                if stored is None:
                    metadata.create_all(conn)
                    conn.execute(
                        meta.insert().values(key="schema_version", value=str(SCHEMA_VERSION))
                    )
            if server:  # once the database is known good, for the next opener
                record_database_url(root, url)
        except BaseException:
            workspace.dispose()
            raise
        return workspace

    @classmethod
    def open(cls, root: str | os.PathLike[str], url: str | sa.URL | None = None) -> Workspace:
        """Open an existing workspace without changing anything in it; its database is found as
        :func:`~medselect.store.location.database_url` says.

        Raises:
            StoreError: there is no workspace folder or database at ``root`` / ``url``.
            SchemaVersionError: the database has another schema version (left as is).
        """
        root = _absolute(root)
        if not root.is_dir():
            raise StoreError(f"no medselect workspace at {root} (no such folder); {_CREATE_HINT}")
        url = database_url(root, url)
        if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
            raise StoreError(f"no medselect workspace at {root}: {DB_FILENAME} is missing; "
                             f"{_CREATE_HINT}")
        stored = probe_schema_version(url)
        if stored is None:
            raise StoreError(f"database {display(url)} of workspace {root} has no medselect "
                             f"tables; {_CREATE_HINT}")
        _check_version(stored, url, root)
        return cls(root, make_engine(url))

    @contextmanager
    def begin(self) -> Iterator[sa.Connection]:
        """A connection inside one write transaction: committed on success, rolled back on error.

        On SQLite the transaction takes the write lock when it starts, so other writers wait
        (up to the busy timeout) rather than fail; do not open a second ``begin()`` inside one.
        """
        with self.engine.connect() as conn:
            conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                yield conn

    @contextmanager
    def exclusive(self, key: str) -> Iterator[None]:
        """Hold a lock named ``key`` across processes while the block runs, without holding a
        write transaction, so that another library's own connections to the database (Optuna's
        study storage) can write meanwhile.

        PostgreSQL takes an advisory lock (:func:`serialize`); SQLite, whose write transaction
        would block those connections, locks a file beside the database
        (``medselect.db.<key>.lock``).
        """
        dialect = self.engine.dialect.name
        if dialect == "postgresql":
            with self.engine.connect() as conn, conn.begin():
                serialize(conn, key)
                yield
        elif dialect == "sqlite" and self.engine.url.database:
            with open(f"{self.engine.url.database}.{key}.lock", "a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)
        else:
            yield

    def connect(self) -> sa.Connection:
        """A connection for reading (use it as a context manager)."""
        return self.engine.connect()

    def path(self, rel: str | os.PathLike[str]) -> Path:
        """Absolute path of an artifact stored as ``rel`` (relative to the workspace).

        Raises:
            StoreError: ``rel`` leads outside the workspace (``..``, another absolute path).
        """
        path = Path(os.path.normpath(self.root / rel))
        self._relative_part(path, rel)
        return path

    def relative(self, path: str | os.PathLike[str]) -> str:
        """The workspace-relative POSIX string to store for ``path``.

        ``path`` is absolute or relative to the current directory (not to the workspace).

        Raises:
            StoreError: ``path`` is outside the workspace.
        """
        return self._relative_part(_absolute(path, resolve=False), path).as_posix()

    def dispose(self) -> None:
        """Close every pooled connection (do this before the process or test ends)."""
        self.engine.dispose()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.dispose()

    def __repr__(self) -> str:
        return f"Workspace(root={str(self.root)!r}, url={display(self.engine.url)!r})"

    def _relative_part(self, path: Path, given: object) -> PurePath:
        for candidate, root in ((path, self.root), (path.resolve(), self.root.resolve())):
            if candidate.is_relative_to(root):
                return candidate.relative_to(root)
        raise StoreError(
            f"path {given} is outside the workspace {self.root}; artifacts must be stored inside it"
        )


def _absolute(path: str | os.PathLike[str], resolve: bool = True) -> Path:
    """Absolute, normalized path; ``resolve`` also follows symlinks."""
    path = Path(path).expanduser()
    return path.resolve() if resolve else Path(os.path.abspath(path))


def _check_version(stored: str | None, url: str | sa.URL, root: Path) -> None:
    if stored is None or stored == str(SCHEMA_VERSION):
        return
    if stored.isdigit() and int(stored) in STEPS:
        what = (f"run `{UPGRADE_COMMAND} --workspace {root}` to upgrade it in place (a SQLite "
                "database is backed up first)")
    else:
        what = "open it with the medselect release that wrote it, or create a new workspace"
    raise SchemaVersionError(
        f"database {display(url)} has schema version {stored}, but this medselect uses "
        f"schema version {SCHEMA_VERSION}; {what} (the database was left unchanged)"
    )
