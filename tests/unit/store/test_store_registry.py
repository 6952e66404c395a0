"""Model version rows: numbering per task and scope, lookups, and the fields that may change."""

from __future__ import annotations

import pytest

from medselect.errors import NotFound, StoreError
from medselect.store import (
    add_model_version,
    find_model_version,
    get_model_version,
    list_model_versions,
    update_model_version,
)


def _version(model_ref: str, scope: str = "global", status: str = "candidate", **extra) -> dict:
    return {"task": "knee", "scope": scope, "model_ref": model_ref, "status": status,
            "created_by": "alice", **extra}


def test_versions_are_numbered_per_task_and_scope(ws, add_version):
    add_version("v1", train=["a"])
    with ws.begin() as conn:
        first = add_model_version(conn, _version("r1", dataset_version="v1"))
        second = add_model_version(conn, _version("r2", status="champion"))
        site = add_model_version(conn, _version("r3", scope="site:A"))
    assert (first["version"], second["version"], site["version"]) == (1, 2, 1)
    assert first["evidence"] == {} and first["reason"] == "" and first["dataset_version"] == "v1"
    with ws.connect() as conn:
        assert get_model_version(conn, second["id"])["model_ref"] == "r2"
        assert find_model_version(conn, "knee", "site:A", 1)["model_ref"] == "r3"
        assert [r["model_ref"] for r in list_model_versions(conn, "knee")] == ["r1", "r2", "r3"]
        assert [r["model_ref"] for r in list_model_versions(conn, "knee", "global",
                                                            "champion")] == ["r2"]
        assert [r["version"] for r in list_model_versions(conn, model_ref="r3")] == [1]


def test_missing_versions_are_not_found(ws):
    with ws.connect() as conn:
        with pytest.raises(NotFound, match="model version 5"):
            get_model_version(conn, 5)
        with pytest.raises(NotFound, match="version of task 'knee' in scope 'global' 2"):
            find_model_version(conn, "knee", "global", 2)


@pytest.mark.parametrize(("extra", "message"), [
    ({"status": "gold"}, "status must be one of"),
    ({"version": 3}, "'id' and 'version' are assigned by the store"),
    ({"created_by": None}, "rejected by the database"),
    ({"dataset_version": "nope"}, "rejected by the database"),
])
def test_bad_versions_are_refused(ws, add_version, extra, message):
    add_version("v1", train=["a"])
    with pytest.raises(StoreError, match=message), ws.begin() as conn:
        add_model_version(conn, {**_version("r1"), **extra})


def test_unknown_task_is_refused(ws):
    with pytest.raises(StoreError, match="rejected by the database"), ws.begin() as conn:
        add_model_version(conn, _version("r1"))


def test_only_status_evidence_and_reason_change(ws, add_version):
    add_version("v1", train=["a"])
    with ws.begin() as conn:
        row = add_model_version(conn, _version("r1"))
        changed = update_model_version(conn, row["id"], {
            "status": "rejected", "evidence": {"accepted": False}, "reason": "worse"})
        assert (changed["status"], changed["evidence"], changed["reason"]) == (
            "rejected", {"accepted": False}, "worse")
        with pytest.raises(StoreError, match=r"only status, evidence and reason can change, "
                                             r"got \['model_ref'\]"):
            update_model_version(conn, row["id"], {"model_ref": "r9"})
        with pytest.raises(StoreError, match="status must be one of"):
            update_model_version(conn, row["id"], {"status": "gold"})
        with pytest.raises(NotFound):
            update_model_version(conn, 99, {"status": "retired"})
