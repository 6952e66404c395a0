"""Upgrading a workspace database in place: version 2 (no run status 'pruned', no per-case metric
arrays) to the current, on SQLite and PostgreSQL, with its runs, their epoch metrics and its
per-case metrics kept (and the arrays filled from them)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import sqlalchemy as sa

from medselect.config import RunConfig
from medselect.errors import SchemaVersionError
from medselect.store import (
    Workspace,
    add_case_set,
    add_dataset_version,
    add_epoch_metrics,
    case_metric_table,
    get_epoch_metrics,
    get_run,
    metadata,
    put_evaluation,
    put_task,
    set_run_status,
    upsert_run,
)
from medselect.store.engine import make_engine
from medselect.store.location import database_url, record_database_url
from medselect.store.migrations import upgrade_workspace
from medselect.store.schema import SCHEMA_VERSION, case_metric, meta, run

V2_STATUSES = "'pending', 'running', 'interrupted', 'finished', 'failed'"
V2_METRICS = [("c2", "dice", 0.8), ("c1", "dice", 0.9), ("c3", "dice", None),
              ("c1", "hd95", 2.5), ("c3", "hd95", 4.0)]
"""A version 2 workspace's per-case values, out of order, one undefined, one case without HD95."""


def version_2_metadata() -> sa.MetaData:
    """The schema as version 2 declared it: the run status without 'pruned', no
    ``case_metric_array`` (version 4)."""
    old = sa.MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.sorted_tables:
        if table.name != "case_metric_array":
            table.to_metadata(old)
    table = old.tables["run"]
    check = next(c for c in table.constraints
                 if isinstance(c, sa.CheckConstraint) and c.name == "ck_run_status")
    table.constraints.remove(check)
    table.append_constraint(sa.CheckConstraint(f"status IN ({V2_STATUSES})", name="status"))
    return old


def version_2_workspace(root, url) -> None:
    """A workspace as medselect with schema version 2 wrote it, holding two runs and epochs."""
    root.mkdir()
    url = database_url(root, url)
    if url.get_backend_name() != "sqlite":
        record_database_url(root, url)
    engine = make_engine(url)
    with engine.begin() as conn:
        version_2_metadata().create_all(conn)
        conn.execute(meta.insert().values(key="schema_version", value="2"))
        put_task(conn, "knee", "segmentation")
        conn.execute(sa.text("INSERT INTO dataset_version (id, task, n_cases, description, "
                             "source, created_at) VALUES ('dv', 'knee', 0, '', '{}', "
                             "'2024-01-01 00:00:00')"))
        for rid, status in (("run-a", "finished"), ("run-b", "failed")):
            upsert_run(conn, {"id": rid, "task": "knee", "dataset_version": "dv", "sweep": "s",
                              "config": RunConfig(epochs=2).model_dump(mode="json"),
                              "config_hash": rid, "status": status})
            add_epoch_metrics(conn, rid, 1, {"val_dice": 0.5, "learning_rate": 1e-3})
        add_dataset_version(conn, {"id": "dv-e", "task": "knee"}, [
            {"case_id": c, "patient_id": f"p-{c}", "site": "north", "split": "test",
             "image_uris": [f"{c}.png"], "content_hash": c} for c in ("c1", "c2", "c3")])
        add_case_set(conn, {"id": "dv-e-test", "name": "test", "task": "knee",
                            "dataset_version": "dv-e", "kind": "test"}, ["c1", "c2", "c3"])
        put_evaluation(conn, {"id": "ev-a", "model_ref": "run-a", "case_set": "dv-e-test",
                              "dataset_version": "dv-e", "status": "finished"})
        conn.execute(case_metric.insert(), [  # as version 2 stored them: rows only
            {"evaluation": "ev-a", "case_id": c, "metric": m, "label": "mean", "value": v}
            for c, m, v in V2_METRICS])
        with pytest.raises(sa.exc.IntegrityError), conn.begin_nested():  # what 2 refuses
            set_run_status(conn, "run-a", "pruned")
    engine.dispose()


def test_a_version_2_workspace_is_upgraded_keeping_its_runs(tmp_path, db_url):
    root = tmp_path / "ws"
    version_2_workspace(root, db_url)
    with pytest.raises(SchemaVersionError, match=r"medselect workspace upgrade --workspace "):
        Workspace.open(root, db_url)

    result = upgrade_workspace(root, db_url)

    assert (result.from_version, result.to_version, result.upgraded) == (2, SCHEMA_VERSION, True)
    with Workspace.open(root, db_url) as ws:
        with ws.connect() as conn:
            assert get_run(conn, "run-b")["status"] == "failed"
            assert {e["name"]: e["value"] for e in get_epoch_metrics(conn, "run-a")} == {
                "val_dice": 0.5, "learning_rate": 1e-3}
            indexes = {i["name"] for i in sa.inspect(conn).get_indexes("run")}
            table = case_metric_table(conn, case_set="dv-e-test")
        assert [(c, m, None if np.isnan(v) else v) for c, m, v in zip(
            table["case_id"], table["metric"], table["value"], strict=True)] == sorted(
            V2_METRICS, key=lambda row: (row[0], row[1]))
        assert indexes == {i.name for i in metadata.tables["run"].indexes}
        with ws.begin() as conn:
            set_run_status(conn, "run-a", "pruned")  # version 3 accepts it
        with pytest.raises(sa.exc.IntegrityError), ws.begin() as conn:  # still checked
            conn.execute(run.update().where(run.c.id == "run-a").values(status="lost"))
    if db_url is None:
        assert result.backup == root / "medselect.schema-2.backup.db"
        assert "copied to" in result.note
        with sa.create_engine(f"sqlite:///{result.backup}").connect() as old:
            assert old.execute(sa.text("SELECT value FROM meta")).scalar() == "2"
    else:
        assert result.backup is None and "pg_dump" in result.note
    again = upgrade_workspace(root, db_url)
    assert not again.upgraded and "nothing changed" in again.note


@pytest.mark.parametrize("version", ["1", "7"])
def test_a_version_without_an_upgrade_path_is_refused_unchanged(tmp_path, version):
    root = tmp_path / "ws"
    version_2_workspace(root, None)
    db = root / "medselect.db"
    with sa.create_engine(f"sqlite:///{db}").begin() as conn:
        conn.execute(meta.update().values(value=version))
    before = db.read_bytes()
    with pytest.raises(SchemaVersionError, match=f"schema version {version}, which this "
                                                 "medselect .* cannot upgrade"):
        upgrade_workspace(root)
    assert db.read_bytes() == before and not (root / "medselect.schema-1.backup.db").exists()


def test_the_cli_upgrades_and_says_where_the_backup_is(tmp_path, run_cli):
    root = tmp_path / "ws"
    version_2_workspace(root, None)
    refused = run_cli("runs", "list", "-w", root)
    assert refused.code == 1 and "medselect workspace upgrade --workspace" in refused.stderr
    done = run_cli("workspace", "upgrade", "-w", root, "--json")
    assert done.code == 0, done.stderr
    assert json.loads(done.stdout) | {"database": None} == {
        "database": None, "from_version": 2, "to_version": SCHEMA_VERSION, "upgraded": True,
        "backup": str(root / "medselect.schema-2.backup.db"),
        "note": json.loads(done.stdout)["note"]}
    assert run_cli("runs", "list", "-w", root).code == 0
    again = run_cli("workspace", "upgrade", "-w", root)
    assert again.code == 0 and "nothing changed" in again.stdout
