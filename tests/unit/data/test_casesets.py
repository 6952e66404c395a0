"""Named case sets of a task: val, test, reference, train, all and stored ids, with what exists
when not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import medselect.data
from medselect.data import case_set_names, latest_training_version, named_case_set
from medselect.data.casesets import (
    NEW_CASES_SOURCE,
    add_training_data_set,
    is_training_data_set,
    split_case_set_id,
)
from medselect.errors import NotFound
from medselect.store import (
    Workspace,
    add_case_set,
    add_dataset_version,
    case_set_members,
    put_task,
    set_reference_case_set,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _case(case_id: str, split: str) -> dict:
    return {"case_id": case_id, "patient_id": f"p-{case_id}", "split": split,
            "image_uris": [f"images/{case_id}.nii.gz"], "content_hash": f"h-{case_id}"}


@pytest.fixture
def ws(tmp_path):
    workspace = Workspace.create(tmp_path / "ws")
    yield workspace
    workspace.dispose()


def _version(ws, version_id: str, *, hours: int = 0, task: str = "knee", source=None,
             reference: str | None = None, **splits: list[str]) -> None:
    """A version with a case set per non-empty val/test split (as imports make them)."""
    with ws.begin() as conn:
        put_task(conn, task, "segmentation")
        add_dataset_version(conn, {
            "id": version_id, "task": task, "created_at": T0 + timedelta(hours=hours),
            "source": source or {"kind": "manifest"},
        }, [_case(c, split) for split, ids in splits.items() for c in ids])
        for split in ("val", "test"):
            if splits.get(split):
                add_case_set(conn, {"id": split_case_set_id(version_id, split), "name": split,
                                    "task": task, "dataset_version": version_id,
                                    "kind": split}, splits[split])
        if reference:
            set_reference_case_set(conn, version_id, reference)


def _freeze(ws, version_id: str, members: list[str]) -> str:
    with ws.begin() as conn:
        add_case_set(conn, {"id": f"{version_id}-reference", "name": "reference",
                            "task": "knee", "dataset_version": version_id,
                            "kind": "reference", "frozen": True}, members)
        set_reference_case_set(conn, version_id, f"{version_id}-reference")
    return f"{version_id}-reference"


def test_names_resolve_to_the_latest_training_version(ws):
    _version(ws, "v1", train=["a"], val=["b"], test=["c"])
    reference = _freeze(ws, "v1", ["c"])
    _version(ws, "v2", hours=1, reference=reference, train=["a", "d"], val=["b", "e"],
             test=["c", "f"])
    _version(ws, "new1", hours=2, source={"kind": NEW_CASES_SOURCE}, test=["x"])
    with ws.connect() as conn:
        assert latest_training_version(conn, "knee")["id"] == "v2"  # new cases never are
        found = {name: named_case_set(conn, "knee", name) for name in ("val", "test",
                                                                       "reference")}
        stored = named_case_set(conn, "knee", "v1-val")  # an older version's set, by id
    assert {n: (r["id"], r["kind"]) for n, r in found.items()} == {
        "val": ("v2-val", "val"), "test": ("v2-test", "test"),
        "reference": ("v1-reference", "reference")}
    assert stored["dataset_version"] == "v1"


def test_a_version_without_validation_cases_has_no_val_set_and_says_what_exists(ws):
    _version(ws, "v1", train=["a"], test=["c"])
    with ws.connect() as conn:
        with pytest.raises(NotFound) as info:
            named_case_set(conn, "knee", "val")
        names = case_set_names(conn, "knee")
    message = str(info.value)
    assert "task 'knee' has no 'val' case set" in message
    assert "dataset version 'v1' has no validation cases" in message
    assert message.endswith("it has test; case sets v1-test")
    assert names == ["test", "v1-test"]


def test_reference_needs_a_frozen_set(ws):
    _version(ws, "v1", train=["a"], val=["b"], test=["c"])
    with ws.connect() as conn, pytest.raises(NotFound) as info:
        named_case_set(conn, "knee", "reference")
    assert "no frozen reference set" in str(info.value)
    assert "it has" not in str(info.value) and "has val, test" in str(info.value)


def test_ids_belong_to_the_task_and_unknown_ones_list_what_exists(ws):
    _version(ws, "v1", train=["a"], val=["b"], test=["c"])
    _version(ws, "h1", task="hip", train=["a"], test=["c"])
    with ws.connect() as conn:
        with pytest.raises(NotFound) as other_task:
            named_case_set(conn, "knee", "h1-test")
        with pytest.raises(NotFound, match="task 'knee' has no case set 'nope'; it has val, "
                                           "test; case sets v1-test, v1-val"):
            named_case_set(conn, "knee", "nope")
        assert named_case_set(conn, "hip", "h1-test")["task"] == "hip"
    assert "task 'knee' has no case set 'h1-test'" in str(other_task.value)


def test_a_task_without_data_names_the_command_to_run(ws):
    with ws.connect() as conn:
        for name in ("val", "test", "reference"):
            with pytest.raises(NotFound, match=f"task 'knee' has no dataset version, so no "
                                               f"'{name}' case set; run `medselect data "
                                               f"import`"):
                named_case_set(conn, "knee", name)
        with pytest.raises(NotFound, match="task 'knee' has no case set 'x'; it has no case "
                                           "set"):
            named_case_set(conn, "knee", "x")
        assert case_set_names(conn, "knee") == []


def test_many_stored_ids_are_listed_newest_first_then_counted(ws):
    for i in range(8):
        _version(ws, f"v{i}", hours=i, train=["a"], test=[f"t{i}"])
    with ws.connect() as conn, pytest.raises(NotFound) as info:
        named_case_set(conn, "knee", "nope")
    assert ("it has test; case sets v7-test, v6-test, v5-test, v4-test, v3-test, v2-test "
            "and 2 more") in str(info.value)


def test_public_api_is_pinned():
    assert sorted(medselect.data.__all__) == [
        "CASE_SET_NAMES", "case_set_names", "cases_by_site", "export_case_metrics",
        "latest_training_version", "named_case_set", "stored_ranking", "task_cases"]
    assert all(hasattr(medselect.data, name) for name in medselect.data.__all__)


def test_train_and_all_are_stored_on_demand_with_ids_of_their_version(ws):
    _version(ws, "v1", train=["a", "d"], val=["b"], test=["c"])
    with ws.connect() as conn, pytest.raises(NotFound) as info:
        named_case_set(conn, "knee", "train")
    assert "--predictions FOLDER --cases train" in str(info.value)
    with ws.begin() as conn:
        train = add_training_data_set(conn, "knee", "train")
        everything = add_training_data_set(conn, "knee", "all")
    with ws.begin() as conn:
        assert add_training_data_set(conn, "knee", "train") == train  # idempotent
    with ws.connect() as conn:
        assert named_case_set(conn, "knee", "all") == everything
        members = {r["id"]: [m["case_id"] for m in case_set_members(conn, r["id"])]
                   for r in (train, everything)}
        assert case_set_names(conn, "knee")[:5] == ["val", "test", "train", "all", "v1-all"]
    assert (train["id"], train["name"], train["kind"]) == ("v1-train", "train", "custom")
    assert members == {"v1-train": ["a", "d"], "v1-all": ["a", "b", "c", "d"]}
    assert is_training_data_set(train) and is_training_data_set(everything)
    with ws.connect() as conn:
        assert not is_training_data_set(named_case_set(conn, "knee", "test"))
