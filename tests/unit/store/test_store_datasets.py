"""Tasks, dataset versions, cases and case sets round-trip through the store."""

from __future__ import annotations

import hashlib
from datetime import UTC

import pytest
import sqlalchemy as sa

from medselect.errors import NotFound, StoreError
from medselect.store import (
    add_case_set,
    add_dataset_version,
    case_set_members,
    get_case,
    get_case_set,
    get_cases,
    get_dataset_version,
    get_task,
    latest_dataset_version,
    list_case_sets,
    list_dataset_versions,
    put_task,
    set_reference_case_set,
    set_task_ranking,
    task_family,
)
from medselect.store.schema import case, dataset_version, task


def _count(ws, table) -> int:
    with ws.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_task_round_trip_and_kind_is_fixed(ws):
    with ws.begin() as conn:
        put_task(conn, "knee", "segmentation", {"labels": ["femur"]})
        put_task(conn, "knee", "segmentation", {"labels": ["femur", "tibia"]})
        row = get_task(conn, "knee")
        with pytest.raises(StoreError, match="segmentation task in this workspace, not landmarks"):
            put_task(conn, "knee", "landmarks")
    assert row["config"] == {"labels": ["femur", "tibia"]}
    assert row["created_at"].tzinfo == UTC
    with ws.connect() as conn, pytest.raises(NotFound, match="task 'hip'"):
        get_task(conn, "hip")


RANKING = {"metric": "dice", "by": ["site"], "selection": {"case_set": "val", "folds": None},
           "confirmation": "test"}


def test_a_task_stores_its_ranking_rules_and_keeps_them_until_told(ws):
    with ws.begin() as conn:
        assert put_task(conn, "knee", "segmentation")["ranking"] is None
        assert put_task(conn, "knee", "segmentation", ranking=RANKING)["ranking"] == RANKING
        kept = put_task(conn, "knee", "segmentation", {"classes": ["bg", "femur"]})
        put_task(conn, "hip", "segmentation", ranking={**RANKING, "metric": "hd95"})
    assert kept["ranking"] == RANKING and kept["config"] == {"classes": ["bg", "femur"]}
    with ws.connect() as conn:
        assert get_task(conn, "knee")["ranking"] == RANKING
        assert get_task(conn, "hip")["ranking"]["metric"] == "hd95"
    with ws.begin() as conn:
        changed = set_task_ranking(conn, "knee", {**RANKING, "confirmation": "reference"})
        cleared = set_task_ranking(conn, "hip", None)
    assert changed["ranking"]["confirmation"] == "reference"
    assert cleared["ranking"] is None
    with ws.connect() as conn:  # SQL NULL, not a JSON null
        stored = conn.execute(sa.select(task.c.ranking).where(task.c.name == "hip")
                              .where(task.c.ranking.is_(None))).all()
    assert len(stored) == 1


def test_a_ranking_is_a_mapping_of_an_existing_task(ws):
    with ws.begin() as conn:
        put_task(conn, "knee", "segmentation")
        with pytest.raises(StoreError, match="ranking must be a JSON mapping"):
            put_task(conn, "knee", "segmentation", ranking=["dice"])
        with pytest.raises(StoreError, match="ranking must be a JSON mapping"):
            set_task_ranking(conn, "knee", "dice")
        with pytest.raises(NotFound, match="task 'hip'"):
            set_task_ranking(conn, "hip", RANKING)


def test_the_family_is_read_from_the_config_and_fixed(ws):
    keypoints = {"kind": "keypoints", "family": "segmentation"}
    with ws.begin() as conn:
        old = put_task(conn, "knee", "landmarks", {"landmarks": ["apex"]})  # before families
        new = put_task(conn, "hip", "keypoints", keypoints)
        put_task(conn, "hip", "keypoints", {**keypoints, "classes": ["bg", "head"]})
        with pytest.raises(StoreError, match=r"task 'hip' is a keypoints \(segmentation "
                                             r"family\) task in this workspace, not keypoints "
                                             r"\(landmarks family\)"):
            put_task(conn, "hip", "keypoints", {**keypoints, "family": "landmarks"})
    assert (task_family(old), task_family(new)) == ("landmarks", "segmentation")


def test_dataset_version_and_cases_round_trip(ws, add_version):
    add_version("v1", train=["c2", "c1"], val=["c3"], test=["c4"])
    with ws.connect() as conn:
        version = get_dataset_version(conn, "v1")
        cases = get_cases(conn, "v1")
        test_cases = get_cases(conn, "v1", split="test")
        one = get_case(conn, "v1", "c1")
    assert version["n_cases"] == 4 and version["task"] == "knee"
    assert version["source"] == {"kind": "synth-knee", "n": 4}
    assert version["created_at"].tzinfo == UTC and version["reference_case_set"] is None
    assert [c["case_id"] for c in cases] == ["c1", "c2", "c3", "c4"]
    assert [c["case_id"] for c in test_cases] == ["c4"]
    assert one == {
        "dataset_version": "v1", "case_id": "c1", "patient_id": "p-c1", "site": "default",
        "split": "train", "image_uris": ["images/c1_0000.nii.gz"],
        "label_uri": "labels/c1.nii.gz", "landmarks_uri": None, "target": None,
        "content_hash": "h-c1", "attributes": {},
    }


def test_rows_with_different_optional_fields_are_all_kept(ws, make_case):
    rows = [make_case("a"), make_case("b", site="B", target=1, attributes={"scanner": "3T"})]
    with ws.begin() as conn:
        put_task(conn, "knee", "segmentation")
        add_dataset_version(conn, {"id": "v1", "task": "knee"}, rows)
        b = get_case(conn, "v1", "b")
    assert (b["site"], b["target"], b["attributes"]) == ("B", 1, {"scanner": "3T"})


def test_adding_the_same_version_twice_is_a_no_op(ws, add_version):
    add_version("v1", train=["a", "b"])
    add_version("v1", train=["a", "b"])
    assert _count(ws, dataset_version) == 1 and _count(ws, case) == 2


def test_a_rejected_case_leaves_nothing_of_the_version(ws, make_case):
    with ws.begin() as conn:
        put_task(conn, "knee", "segmentation")
    rows = [make_case("a"), make_case("a", split="test")]  # duplicate case id
    with pytest.raises(StoreError, match="dataset version 'v1' was rejected"), ws.begin() as conn:
        add_dataset_version(conn, {"id": "v1", "task": "knee"}, rows)
    assert _count(ws, dataset_version) == 0 and _count(ws, case) == 0
    with ws.connect() as conn, pytest.raises(NotFound, match="'v1'"):
        get_dataset_version(conn, "v1")


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"content_hash": None}, "rejected"),
        ({"split": "holdout"}, r"case 'b' of dataset version 'v1': split must be one of"),
        ({"colour": "red"}, r"unknown field\(s\) \['colour'\]"),
    ],
)
def test_bad_case_rows_are_refused_with_the_case_named(ws, make_case, bad, message):
    with ws.begin() as conn:
        put_task(conn, "knee", "segmentation")
    rows = [make_case("a"), {**make_case("b"), **bad}]
    with pytest.raises(StoreError, match=message), ws.begin() as conn:
        add_dataset_version(conn, {"id": "v1", "task": "knee"}, rows)
    assert _count(ws, dataset_version) == 0


def test_missing_required_field_is_named(ws, make_case):
    row = make_case("a")
    del row["patient_id"]
    with ws.begin() as conn, pytest.raises(StoreError, match=r"missing .*\['patient_id'\]"):
        add_dataset_version(conn, {"id": "v1", "task": "knee"}, [row])


def test_unknown_task_is_refused(ws, make_case):
    with pytest.raises(StoreError, match="FOREIGN KEY"), ws.begin() as conn:
        add_dataset_version(conn, {"id": "v1", "task": "nope"}, [make_case("a")])


def test_latest_and_listed_versions_follow_creation_time(ws, add_version):
    add_version("v-new", hours=2, parent_id=None, train=["a"])
    add_version("v-old", hours=1, train=["a"])
    with ws.connect() as conn:
        assert latest_dataset_version(conn, "knee")["id"] == "v-new"
        assert [v["id"] for v in list_dataset_versions(conn, "knee")] == ["v-old", "v-new"]
        assert list_dataset_versions(conn, "hip") == []
        with pytest.raises(NotFound, match="task 'hip' has no dataset version"):
            latest_dataset_version(conn, "hip")
        with pytest.raises(NotFound, match="dataset version 'v9'"):
            get_cases(conn, "v9")


def test_frozen_reference_set_is_kept_by_later_versions(ws, add_version):
    add_version("v1", train=["a", "b"], test=["t1", "t2"])
    add_version("v2", hours=1, parent_id="v1", train=["a", "b", "c"], test=["t1", "t2"])
    with ws.begin() as conn:
        ref = add_case_set(conn, {
            "id": "ref-1", "name": "reference test", "task": "knee", "dataset_version": "v1",
            "kind": "reference", "frozen": True,
        }, ["t2", "t1"])
        set_reference_case_set(conn, "v1", "ref-1")
        set_reference_case_set(conn, "v2", "ref-1")
    expected = hashlib.sha256(b"t1:h-t1\nt2:h-t2\n").hexdigest()
    assert ref["content_hash"] == expected and ref["frozen"] is True
    with ws.connect() as conn:
        assert get_dataset_version(conn, "v2")["reference_case_set"] == "ref-1"
        members = case_set_members(conn, "ref-1")
        assert [(m["dataset_version"], m["case_id"]) for m in members] == [("v1", "t1"),
                                                                          ("v1", "t2")]
        assert [s["id"] for s in list_case_sets(conn, task="knee", kind="reference")] == ["ref-1"]
        assert list_case_sets(conn, kind="new") == []


def test_case_sets_never_change(ws, add_version):
    add_version("v1", test=["t1", "t2", "t3"])
    row = {"id": "s", "name": "s", "task": "knee", "dataset_version": "v1", "kind": "test"}
    with ws.begin() as conn:
        first = add_case_set(conn, row, ["t1", "t2"])
        assert add_case_set(conn, row, ["t2", "t1"]) == first
        with pytest.raises(StoreError, match="already exists with other cases"):
            add_case_set(conn, row, ["t1", "t3"])
        with pytest.raises(NotFound, match=r"not in dataset version 'v1': \['zz'\]"):
            add_case_set(conn, {**row, "id": "s2"}, ["t1", "zz"])
        with pytest.raises(StoreError, match="more than once"):
            add_case_set(conn, {**row, "id": "s3"}, ["t1", "t1"])
        with pytest.raises(StoreError, match="kind must be one of"):
            add_case_set(conn, {**row, "id": "s4", "kind": "holdout"}, ["t1"])
        with pytest.raises(NotFound, match="case set 'nope'"):
            get_case_set(conn, "nope")


def test_a_validation_split_is_a_case_set_kind(ws, add_version):
    add_version("v1", train=["a"], val=["v1c", "v2c"], test=["t1"])
    with ws.begin() as conn:
        add_case_set(conn, {"id": "v1-val", "name": "val", "task": "knee",
                            "dataset_version": "v1", "kind": "val"}, ["v1c", "v2c"])
    with ws.connect() as conn:
        [val] = list_case_sets(conn, task="knee", kind="val")
        members = case_set_members(conn, "v1-val")
    assert (val["id"], val["name"], val["frozen"]) == ("v1-val", "val", False)
    assert [m["split"] for m in members] == ["val", "val"]
