"""Where a workspace's database is: a URL from the caller, the environment or workspace.toml,
recorded without its password; the schema checks behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from medselect.errors import SchemaVersionError, StoreError
from medselect.store import ENV_URL, Workspace, database_url, list_runs
from medselect.store.schema import meta


@pytest.fixture
def pg_url(postgres_server) -> str:
    return postgres_server.new_database()


def test_a_server_url_is_recorded_without_its_password_and_found_again(tmp_path, pg_url,
                                                                       monkeypatch):
    monkeypatch.delenv(ENV_URL, raising=False)
    with_password = sa.make_url(pg_url).set(password="s3cret")
    root = tmp_path / "ws"
    Workspace.create(root, pg_url).dispose()
    text = (root / "workspace.toml").read_text()
    assert "s3cret" not in text and sa.make_url(pg_url).database in text
    assert not (root / "medselect.db").exists()
    with Workspace.open(root) as ws, ws.connect() as conn:  # found through workspace.toml
        assert ws.engine.dialect.name == "postgresql" and list_runs(conn) == []
    monkeypatch.setenv(ENV_URL, with_password.render_as_string(hide_password=False))
    # a worker given the shareable URL takes the password of its own environment
    assert database_url(root, sa.make_url(pg_url)).password == "s3cret"
    assert database_url(root).password == "s3cret"


def test_another_database_for_a_recorded_folder_is_refused(tmp_path, pg_url, monkeypatch):
    monkeypatch.delenv(ENV_URL, raising=False)
    root = tmp_path / "ws"
    Workspace.create(root, pg_url).dispose()
    other = sa.make_url(pg_url).set(database="elsewhere")
    with pytest.raises(StoreError, match=r"records the database .* not .*elsewhere"):
        Workspace.create(root, other)


def test_environment_url_wins_over_the_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_URL, f"sqlite:///{tmp_path / 'elsewhere.db'}")
    assert database_url(tmp_path / "ws").database == str(tmp_path / "elsewhere.db")
    monkeypatch.delenv(ENV_URL)
    assert database_url(tmp_path / "ws").database == str(tmp_path / "ws" / "medselect.db")


@pytest.mark.parametrize("text, message", [
    ("[database\n", "cannot be read"),
    ("[database]\nuri = 'x'\n", r"expected \[database\] url"),
])
def test_a_broken_workspace_toml_is_named(tmp_path, text, message, monkeypatch):
    monkeypatch.delenv(ENV_URL, raising=False)
    (tmp_path / "workspace.toml").write_text(text)
    with pytest.raises(StoreError, match=message) as err:
        database_url(tmp_path)
    assert "workspace.toml" in str(err.value)


def test_a_malformed_url_is_named(tmp_path):
    with pytest.raises(StoreError, match="'not a url' is malformed"):
        database_url(tmp_path, "not a url")


def test_schema_version_checks_are_the_same_on_both_engines(tmp_path, db_url):
    root = tmp_path / "ws"
    Workspace.create(root, db_url).dispose()
    ws = Workspace.open(root, db_url)
    with ws.begin() as conn:
        conn.execute(meta.update().where(meta.c.key == "schema_version").values(value="999"))
    ws.dispose()
    for opener in (Workspace.open, Workspace.create):
        with pytest.raises(SchemaVersionError, match="schema version 999"):
            opener(root, db_url)


def test_opening_an_empty_server_database_says_so(tmp_path, pg_url):
    (tmp_path / "ws").mkdir()
    with pytest.raises(StoreError, match="has no medselect tables"):
        Workspace.open(tmp_path / "ws", pg_url)
