"""Reviews round-trip, are validated, and count into acceptance rates (newest verdict wins)."""

from __future__ import annotations

import pytest

from medselect.errors import NotFound, StoreError
from medselect.store import (
    acceptance_by_case,
    acceptance_rates,
    add_case_set,
    add_dataset_version,
    add_review,
    list_reviews,
    put_task,
)
from medselect.store.reviews import MAX_COMMENT_LENGTH, MAX_REVIEWER_LENGTH


@pytest.fixture
def test_set(ws, make_case) -> str:
    with ws.begin() as conn:
        put_task(conn, "knee", "segmentation")
        add_dataset_version(conn, {"id": "v1", "task": "knee"},
                            [make_case("a", "test"), make_case("b", "test")])
        add_case_set(conn, {"id": "ts", "name": "test", "task": "knee",
                            "dataset_version": "v1", "kind": "test"}, ["a", "b"])
    return "ts"


def _review(conn, model_ref="r1", case_id="a", reviewer="dr. who", verdict="acceptable",
            **extra):
    return add_review(conn, model_ref=model_ref, case_set="ts", case_id=case_id,
                      reviewer=reviewer, verdict=verdict, **extra)


def test_review_round_trip_keeps_text_verbatim(ws, test_set):
    comment = "<script>alert('x')</script> femur edge off by 2 mm"
    with ws.begin() as conn:
        stored = _review(conn, verdict="not_acceptable", comment=comment, reviewer="  ann  ")
        _review(conn, model_ref="r2", case_id="b")
    with ws.connect() as conn:
        assert list_reviews(conn, case_set="ts", model_ref="r1") == [stored]
        assert [r["model_ref"] for r in list_reviews(conn)] == ["r1", "r2"]
        assert [r["model_ref"] for r in list_reviews(conn, case_id="b")] == ["r2"]
    assert (stored["comment"], stored["reviewer"], stored["verdict"]) == (
        comment, "ann", "not_acceptable")
    assert isinstance(stored["id"], int) and stored["created_at"].tzinfo is not None


def test_review_validation(ws, test_set):
    with ws.begin() as conn:
        with pytest.raises(StoreError, match=r"review of model 'r1' on case 'a': verdict must"):
            _review(conn, verdict="maybe")
        with pytest.raises(StoreError, match="reviewer name must have 1 to"):
            _review(conn, reviewer="   ")
        with pytest.raises(StoreError, match="reviewer name must have 1 to"):
            _review(conn, reviewer="x" * (MAX_REVIEWER_LENGTH + 1))
        with pytest.raises(StoreError, match="shorten it"):
            _review(conn, comment="x" * (MAX_COMMENT_LENGTH + 1))
        with pytest.raises(NotFound, match="case set 'nope'"):
            add_review(conn, model_ref="r1", case_set="nope", case_id="a", reviewer="ann",
                       verdict="acceptable")
        assert list_reviews(conn) == []


def test_acceptance_rates_count_each_reviewers_newest_verdict(ws, test_set):
    with ws.begin() as conn:
        _review(conn, "r1", "a", "ann", "not_acceptable")
        _review(conn, "r1", "a", "ann", "acceptable")  # ann changed her mind
        _review(conn, "r1", "a", "bob", "not_acceptable")
        _review(conn, "r1", "b", "ann", "acceptable")
        _review(conn, "r2", "a", "ann", "not_acceptable")
    with ws.connect() as conn:
        assert acceptance_rates(conn, "ts") == {"r1": (2, 3), "r2": (0, 1)}
        assert acceptance_by_case(conn, "ts") == {("r1", "a"): (1, 2), ("r1", "b"): (1, 1),
                                                 ("r2", "a"): (0, 1)}
        assert acceptance_by_case(conn, "ts", model_ref="r1", case_id="b") == {
            ("r1", "b"): (1, 1)}
        with pytest.raises(NotFound, match="case set 'nope'"):
            acceptance_rates(conn, "nope")
