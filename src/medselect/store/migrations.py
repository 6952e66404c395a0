"""Upgrading, in place, a workspace database that an older medselect wrote.

A workspace of another schema version is refused when opened (:class:`Workspace`); this module
is what the refusal names (``medselect workspace upgrade``). Each step takes the database one
version up inside one write transaction, with the version in ``meta`` re-read under the
schema lock, so an upgrade that fails, or races another one, leaves the database as it was.
Before a SQLite file is touched it is copied beside itself (SQLite's online backup, consistent
even while other processes read); a PostgreSQL database is upgraded in one transaction, and
the result says to keep a ``pg_dump`` before running it where the data matters.

- 2 -> 3: run status ``pruned`` (Optuna's pruner). The CHECK constraint on ``run.status``
  changes; SQLite cannot alter a constraint, so the ``run`` table is rebuilt from the current
  schema (Alembic's batch mode: new table, rows copied, old table dropped, indexes made again)
  with foreign-key enforcement off meanwhile, as SQLite's documentation prescribes, so that
  the epoch metrics that refer to the runs are kept; PostgreSQL swaps the constraint.

- 3 -> 4: ``case_metric_array``, every evaluation's per-case values as one array per metric
  and label (what ranking reads), created and filled from the ``case_metric`` rows.

Versions without a step (1, and any newer than this medselect's) are refused, unchanged.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from medselect.errors import SchemaVersionError, StoreError
from medselect.store.engine import (
    WRITE_OPTION,
    display,
    make_engine,
    probe_schema_version,
    serialize,
)
from medselect.store.location import database_url
from medselect.store.metric_arrays import fill_metric_arrays
from medselect.store.schema import SCHEMA_VERSION, case_metric_array, meta, run

UPGRADE_COMMAND = "medselect workspace upgrade"
"""The command that upgrades a workspace; the refusal to open an older one names it."""


@dataclass(frozen=True)
class UpgradeResult:
    """What an upgrade did.

    Args:
        database: the database, as it may be shown (no password).
        from_version: the schema version found.
        to_version: the schema version now (:data:`SCHEMA_VERSION`).
        backup: the copy of a SQLite database made before the upgrade; None for a server,
            or when there was nothing to upgrade.
        note: one sentence for the user about the backup.
    """

    database: str
    from_version: int
    to_version: int
    backup: Path | None
    note: str

    @property
    def upgraded(self) -> bool:
        return self.from_version != self.to_version

    def to_dict(self) -> dict:
        return {"database": self.database, "from_version": self.from_version,
                "to_version": self.to_version, "upgraded": self.upgraded,
                "backup": str(self.backup) if self.backup else None, "note": self.note}


def _run_status_accepts_pruned(conn: sa.Connection) -> None:
    check = next(c for c in run.constraints
                 if isinstance(c, sa.CheckConstraint) and c.name == "ck_run_status")
    if conn.dialect.name == "sqlite":
        from alembic.migration import MigrationContext
        from alembic.operations import Operations

        operations = Operations(MigrationContext.configure(conn))
        with operations.batch_alter_table("run", copy_from=run, recreate="always"):
            pass  # rebuilt as the current schema declares it: the new CHECK constraint
    else:
        conn.execute(sa.text(f"ALTER TABLE run DROP CONSTRAINT {check.name}"))
        conn.execute(sa.schema.AddConstraint(check))


def _case_metric_arrays(conn: sa.Connection) -> None:
    case_metric_array.create(conn)
    fill_metric_arrays(conn)


STEPS: dict[int, Callable[[sa.Connection], None]] = {2: _run_status_accepts_pruned,
                                                    3: _case_metric_arrays}
"""Schema version -> the step that takes a database from it to the next version."""


def upgrade_workspace(root: Path, url: str | sa.URL | None = None) -> UpgradeResult:
    """Bring the database of the workspace at ``root`` to :data:`SCHEMA_VERSION`.

    Args:
        url: the database (see :func:`medselect.store.location.database_url`).

    Raises:
        StoreError: there is no medselect database there.
        SchemaVersionError: its version has no upgrade path (older than any step, or newer
            than this medselect); the database is left unchanged.
    """
    url = database_url(Path(root), url)
    found = probe_schema_version(url)
    if found is None:
        raise StoreError(f"database {display(url)} of workspace {root} has no medselect tables; "
                         "there is nothing to upgrade")
    version = _check_upgradable(found, url)
    if version == SCHEMA_VERSION:
        return UpgradeResult(display(url), version, version, None,
                             f"already at schema version {SCHEMA_VERSION}; nothing changed")
    backup = _backup_sqlite(url, version)
    engine = make_engine(url)
    try:
        _upgrade(engine, version)
    finally:
        engine.dispose()
    note = (f"the database before the upgrade was copied to {backup}; delete it once the "
            "workspace works" if backup else
            "upgraded in one transaction; keep a pg_dump of the database before upgrading "
            "where its data matters")
    return UpgradeResult(display(url), version, SCHEMA_VERSION, backup, note)


def _check_upgradable(found: str, url: sa.URL) -> int:
    version = int(found) if found.isdigit() else -1
    if version == SCHEMA_VERSION or version in STEPS:
        return version
    newer = version > SCHEMA_VERSION
    raise SchemaVersionError(
        f"database {display(url)} has schema version {found}, which this medselect (schema "
        f"version {SCHEMA_VERSION}) cannot upgrade: it upgrades versions "
        f"{', '.join(map(str, sorted(STEPS)))}; "
        + ("open it with the newer medselect that wrote it" if newer else
           "open it with the medselect release that wrote it, or create a new workspace")
        + " (the database was left unchanged)")


def _upgrade(engine: sa.Engine, version: int) -> None:
    """Every step from ``version`` up, in one transaction; SQLite with foreign keys off."""
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:  # only outside a transaction does SQLite change it
            conn.connection.driver_connection.execute("PRAGMA foreign_keys = OFF")
        try:
            conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                serialize(conn, "schema")
                stored = conn.execute(sa.select(meta.c.value).where(
                    meta.c.key == "schema_version")).scalar()
                if stored != str(version):
                    raise StoreError(f"the schema version changed to {stored} while upgrading "
                                     "(another upgrade ran); nothing was changed by this one")
                for step in range(version, SCHEMA_VERSION):
                    STEPS[step](conn)
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise StoreError(f"the upgrade would break {len(broken)} references "
                                         f"(first: {broken[0]}); nothing was changed")
                conn.execute(meta.update().where(meta.c.key == "schema_version")
                             .values(value=str(SCHEMA_VERSION)))
        finally:
            if sqlite:
                conn.connection.driver_connection.execute("PRAGMA foreign_keys = ON")


def _backup_sqlite(url: sa.URL, version: int) -> Path | None:
    """A consistent copy of a SQLite database beside it (``medselect.schema-2.backup.db``)."""
    if url.get_backend_name() != "sqlite" or not url.database:
        return None
    source = Path(url.database)
    target = source.with_name(f"{source.stem}.schema-{version}.backup{source.suffix}")
    src = dst = None
    try:
        src, dst = sqlite3.connect(source), sqlite3.connect(target)
        src.backup(dst)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot back up {source} to {target} before upgrading: {exc}; "
                         "nothing was changed") from exc
    finally:
        for connection in (src, dst):
            if connection is not None:
                connection.close()
    return target
