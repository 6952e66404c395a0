"""Removing a case set of new cases takes what was computed on it and nothing else: never a
training or test set, never another case set's evaluations, never a file another case uses."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from medselect.errors import NotFound, StoreError
from medselect.store import (
    add_case_set,
    add_dataset_version,
    add_review,
    put_evaluation,
    put_task,
    remove_new_case_set,
    replace_case_metrics,
    replace_predictions,
)
from medselect.store.schema import metadata


def add_set(conn, set_id: str, version: str, kind: str, members: list[str]) -> None:
    add_case_set(conn, {"id": set_id, "name": set_id, "task": "knee", "dataset_version": version,
                        "kind": kind}, members)


def evaluate(conn, evaluation_id: str, case_set: str, version: str, cases: list[str]) -> None:
    put_evaluation(conn, {"id": evaluation_id, "model_ref": "run-1", "case_set": case_set,
                          "dataset_version": version, "status": "finished"})
    replace_case_metrics(conn, evaluation_id, [{"case_id": c, "metric": "dice", "value": 0.9}
                                               for c in cases])
    replace_predictions(conn, evaluation_id, [{"case_id": c, "status": "ok"} for c in cases])
    add_review(conn, model_ref="run-1", case_set=case_set, case_id=cases[0], reviewer="ann",
               verdict="acceptable")


def rows(ws) -> dict[str, list]:
    with ws.connect() as conn:
        return {t.name: sorted(map(tuple, conn.execute(sa.select(t))), key=repr)
                for t in metadata.sorted_tables}


@pytest.fixture
def filled(ws, make_case):
    """Training version v1 (its test set evaluated and reviewed) and new cases in version n1
    (case b's files are also v1's case b's), both evaluated, reviewed, one case set each."""
    with ws.begin() as conn:
        put_task(conn, "knee", "segmentation")
        add_dataset_version(conn, {"id": "v1", "task": "knee"},
                            [make_case("a", "train"), make_case("b", "test")])
        add_set(conn, "v1-test", "v1", "test", ["b"])
        evaluate(conn, "ev-test", "v1-test", "v1", ["b"])
    before = rows(ws)
    with ws.begin() as conn:
        add_dataset_version(conn, {"id": "n1", "task": "knee"},
                            [make_case("b", "test"), make_case("c", "test")])
        add_set(conn, "n1-new", "n1", "new", ["b", "c"])
        evaluate(conn, "ev-new", "n1-new", "n1", ["b", "c"])
    return before


def test_removes_the_new_cases_and_what_was_computed_on_them(ws, filled):
    with ws.begin() as conn:
        removed = remove_new_case_set(conn, "n1-new")
    assert removed.case_set == "n1-new" and removed.evaluations == ["ev-new"]
    assert removed.unused_files == ["images/c_0000.nii.gz", "labels/c.nii.gz"]  # b's are v1's
    assert rows(ws) == filled


def test_a_version_another_case_set_uses_stays(ws, filled):
    with ws.begin() as conn:
        add_set(conn, "n1-other", "n1", "new", ["c"])
        first = remove_new_case_set(conn, "n1-new")
        second = remove_new_case_set(conn, "n1-other")
    assert first.unused_files == [] and second.evaluations == []
    assert second.unused_files == ["images/c_0000.nii.gz", "labels/c.nii.gz"]
    assert rows(ws) == filled


@pytest.mark.parametrize(("case_set", "error", "message"), [
    ("v1-test", StoreError, "'v1-test' is a test set; only case sets of new cases"),
    ("nothing", NotFound, "nothing"),
])
def test_other_case_sets_cannot_be_removed(ws, filled, case_set, error, message):
    before = rows(ws)
    with pytest.raises(error, match=message), ws.begin() as conn:
        remove_new_case_set(conn, case_set)
    assert rows(ws) == before
