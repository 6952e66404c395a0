"""The schema: every table present, constraints enforced, timestamps aware UTC, layer kept."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime

import pytest
import sqlalchemy as sa

import medselect.store
from medselect.store import metadata, utcnow
from medselect.store.schema import audit_event, model_version, task

TABLES = {
    "meta", "task", "dataset_version", "case", "case_set", "case_set_member", "run",
    "epoch_metric", "external_model", "evaluation", "case_metric", "case_metric_array",
    "prediction", "review", "model_version", "audit_event",
}


def test_every_table_is_created(ws):
    assert set(metadata.tables) == TABLES
    with ws.connect() as conn:
        assert set(sa.inspect(conn).get_table_names()) == TABLES


def test_model_versions_are_unique_per_task_scope_and_version(ws):
    row = {"task": "knee", "scope": "global", "version": 1, "model_ref": "run-abc",
           "status": "champion", "created_by": "ci"}
    with ws.begin() as conn:
        conn.execute(task.insert().values(name="knee", kind="segmentation"))
        conn.execute(model_version.insert().values(row))
        conn.execute(model_version.insert().values({**row, "scope": "site:B"}))
    with pytest.raises(sa.exc.IntegrityError, match="UNIQUE"), ws.begin() as conn:
        conn.execute(model_version.insert().values({**row, "model_ref": "run-def"}))
    with pytest.raises(sa.exc.IntegrityError, match="CHECK"), ws.begin() as conn:
        conn.execute(model_version.insert().values({**row, "version": 2, "status": "live"}))


def test_timestamps_come_back_aware_utc_and_naive_ones_are_refused(ws):
    now = utcnow()
    with ws.begin() as conn:
        conn.execute(audit_event.insert().values(ts=now, actor="a", action="x", hash="h1"))
        stored = conn.execute(sa.select(audit_event.c.ts)).scalar_one()
        with pytest.raises(sa.exc.StatementError, match="has no time zone"):
            conn.execute(audit_event.insert().values(
                ts=datetime(2024, 1, 1), actor="a", action="x", hash="h2"))
    assert stored == now and stored.utcoffset().total_seconds() == 0


def test_public_api_is_pinned():
    assert set(medselect.store.__all__) == {
        "ENV_URL",
        "REGISTRY_LOCK",
        "CaseGrid",
        "CaseValues",
        "EvaluationStatus",
        "PredictionStatus",
        "RemovedCaseSet",
        "RunStatus",
        "SCHEMA_VERSION",
        "VersionStatus",
        "Workspace",
        "acceptance_by_case",
        "acceptance_rates",
        "add_audit_event",
        "add_case_set",
        "add_dataset_version",
        "add_epoch_metrics",
        "add_model_version",
        "add_review",
        "atomic_path",
        "atomic_write_bytes",
        "atomic_write_text",
        "audit_head",
        "case_in_set",
        "case_metric_table",
        "case_metric_values",
        "case_metrics_stamp",
        "case_set_hash",
        "case_set_members",
        "database_url",
        "evaluated_metrics",
        "find_evaluation",
        "find_model_version",
        "get_audit_event",
        "get_case",
        "get_case_set",
        "get_cases",
        "get_dataset_version",
        "get_epoch_metrics",
        "get_evaluation",
        "get_external_model",
        "get_model_version",
        "get_predictions",
        "get_run",
        "get_task",
        "labelled_case_sets",
        "last_audit_event",
        "latest_dataset_version",
        "latest_epoch_metrics",
        "latest_evaluations",
        "latest_metric_policy",
        "list_audit_events",
        "list_case_sets",
        "list_dataset_versions",
        "list_evaluations",
        "list_external_models",
        "list_model_versions",
        "list_reviews",
        "list_runs",
        "metadata",
        "predictions_of_case",
        "put_evaluation",
        "put_external_model",
        "put_task",
        "remove_new_case_set",
        "replace_case_metrics",
        "replace_predictions",
        "review_stamp",
        "review_table",
        "serialize",
        "set_evaluation_status",
        "set_reference_case_set",
        "set_run_status",
        "set_task_ranking",
        "shareable_url",
        "task_family",
        "update_model_version",
        "upsert_run",
        "utcnow",
    }


def test_store_imports_no_torch_and_no_other_layer():
    code = (
        "import sys, medselect.store; "
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('medselect.')"
        " and not m.startswith(('medselect.store', 'medselect.errors', 'medselect.casetable',"
        " 'medselect.jsonsafe'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
