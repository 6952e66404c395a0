"""Workspace life cycle: create/open, schema versions, transactions, artifact paths, SQLite mode."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest
import sqlalchemy as sa

from medselect.errors import SchemaVersionError, StoreError
from medselect.store import SCHEMA_VERSION, Workspace, get_task, metadata, put_task
from medselect.store.schema import meta, task


def test_create_then_open_round_trip(tmp_path):
    root = tmp_path / "nested" / "ws"
    with Workspace.create(root) as ws, ws.begin() as conn:
        put_task(conn, "knee", "segmentation")
    assert (root / "medselect.db").is_file()

    with Workspace.open(root) as ws, ws.connect() as conn:
        assert get_task(conn, "knee")["kind"] == "segmentation"
        assert set(sa.inspect(conn).get_table_names()) == set(metadata.tables)
        version = conn.execute(sa.select(meta.c.value)).scalar_one()
    assert version == str(SCHEMA_VERSION) == "4"


def test_create_is_idempotent_and_keeps_data(tmp_path):
    with Workspace.create(tmp_path) as ws, ws.begin() as conn:
        put_task(conn, "knee", "segmentation")
    with Workspace.create(tmp_path) as ws, ws.connect() as conn:
        assert get_task(conn, "knee")["name"] == "knee"
        assert conn.execute(sa.select(sa.func.count()).select_from(meta)).scalar_one() == 1


def test_open_missing_folder_names_it_and_says_what_to_do(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(StoreError, match="synth-knee") as info:
        Workspace.open(missing)
    assert str(missing) in str(info.value)
    assert not missing.exists()


def test_open_folder_without_database_creates_nothing(tmp_path):
    with pytest.raises(StoreError, match=r"medselect\.db is missing"):
        Workspace.open(tmp_path)
    assert list(tmp_path.iterdir()) == []


def _set_stored_version(root, version: str) -> None:
    """Rewrite the version as another release would, in rollback-journal mode (not WAL)."""
    Workspace.create(root).dispose()
    with closing(sqlite3.connect(root / "medselect.db")) as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (version,))
        db.commit()
        db.execute("PRAGMA journal_mode = DELETE")


@pytest.mark.parametrize("method", [Workspace.open, Workspace.create])
@pytest.mark.parametrize("other", ["3", "5"])  # 3: before the per-case metric arrays
def test_other_schema_version_is_refused_and_left_untouched(tmp_path, method, other):
    _set_stored_version(tmp_path, other)
    db = tmp_path / "medselect.db"
    before = db.read_bytes()

    with pytest.raises(SchemaVersionError) as info:
        method(tmp_path)

    message = str(info.value)
    assert f"schema version {other}" in message
    assert f"schema version {SCHEMA_VERSION}" in message
    assert str(db) in message
    assert db.read_bytes() == before  # not even switched to WAL
    assert sorted(p.name for p in tmp_path.iterdir()) == ["medselect.db"]


def test_any_sqlalchemy_url_is_accepted(tmp_path):
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    with Workspace.create(tmp_path / "ws", url=url) as ws, ws.begin() as conn:
        put_task(conn, "knee", "segmentation")
    assert not (tmp_path / "ws" / "medselect.db").exists()
    with Workspace.open(tmp_path / "ws", url=url) as ws, ws.connect() as conn:
        assert get_task(conn, "knee")["kind"] == "segmentation"


def test_sqlite_runs_in_wal_mode_with_foreign_keys(ws):
    with ws.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() > 0


def test_begin_rolls_back_everything_on_error(ws):
    with ws.begin() as conn:
        put_task(conn, "kept", "segmentation")
    with pytest.raises(RuntimeError, match="boom"), ws.begin() as conn:
        put_task(conn, "lost", "segmentation")
        put_task(conn, "kept", "segmentation", {"changed": True})
        raise RuntimeError("boom")
    with ws.connect() as conn:
        rows = conn.execute(sa.select(task.c.name, task.c.config)).all()
    assert rows == [("kept", {})]


def test_artifact_paths_round_trip(ws):
    absolute = ws.path("runs/r1/model.pt")
    assert absolute == ws.root / "runs" / "r1" / "model.pt"
    assert ws.relative(absolute) == "runs/r1/model.pt"
    assert ws.relative(ws.root / "runs" / ".." / "evaluations" / "e1") == "evaluations/e1"
    assert ws.path(ws.relative(absolute)) == absolute


def test_paths_outside_the_workspace_are_refused(ws, tmp_path):
    outside = tmp_path / "elsewhere" / "model.pt"
    with pytest.raises(StoreError, match="outside the workspace") as info:
        ws.relative(outside)
    assert str(outside) in str(info.value)
    with pytest.raises(StoreError, match="outside the workspace"):
        ws.path("../escape.txt")
    with pytest.raises(StoreError, match="outside the workspace"):
        ws.path(outside)


def test_relative_accepts_paths_through_a_symlinked_root(ws, tmp_path):
    link = tmp_path / "link"
    link.symlink_to(ws.root)
    assert ws.relative(link / "runs" / "r1") == "runs/r1"


def test_constructor_does_no_io(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'never.db'}")
    ws = Workspace(tmp_path / "never", engine)
    assert not (tmp_path / "never").exists() and not (tmp_path / "never.db").exists()
    ws.dispose()
