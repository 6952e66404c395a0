"""Reviews: the form and the API store them, they show on the case, and acceptance follows."""

from __future__ import annotations

import pytest

from medselect.store.reviews import MAX_COMMENT_LENGTH

REVIEW = {"model_ref": "run-001", "case_set": "dv-sample-test", "case_id": "case-0004",
          "reviewer": "dr. ann", "verdict": "acceptable", "comment": "femur edge fine"}


def acceptance(client, model: str) -> dict:
    rows = client.get("/api/leaderboard").json()["rows"]
    return next(r["acceptance"] for r in rows if r["model"] == model)


def test_form_round_trip_changes_the_acceptance_rate(fresh_client):
    assert acceptance(fresh_client, "run-001") == {"accepted": 0, "reviewed": 0, "rate": None}
    form = {k: v for k, v in REVIEW.items() if k != "case_id"} | {"metric": "hd95"}
    response = fresh_client.post("/cases/case-0004/reviews", data=form, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/cases/case-0004?case_set=dv-sample-test&metric=hd95"
    page = fresh_client.get(response.headers["location"]).text
    assert "dr. ann" in page and "femur edge fine" in page
    assert acceptance(fresh_client, "run-001") == {"accepted": 1, "reviewed": 1, "rate": 1.0}
    fresh_client.post("/cases/case-0005/reviews", data=form | {"verdict": "not_acceptable"})
    assert acceptance(fresh_client, "run-001") == {"accepted": 1, "reviewed": 2, "rate": 0.5}
    html = fresh_client.get("/").text
    assert 'data-key="acceptance" data-value="0.5"' in html and "50% (1/2)" in html


def test_api_round_trip(fresh_client):
    stored = fresh_client.post("/api/reviews", json=REVIEW)
    assert stored.status_code == 201
    body = stored.json()
    assert {k: body[k] for k in REVIEW} == REVIEW and isinstance(body["id"], int)
    listed = fresh_client.get("/api/reviews", params={"case_id": "case-0004"}).json()
    assert [r["id"] for r in listed] == [body["id"]]
    case = fresh_client.get("/api/cases/case-0004").json()
    entry = next(e for e in case["entries"] if e["model"] == "run-001")
    assert entry["acceptance"] == {"accepted": 1, "reviewed": 1, "rate": 1.0}
    assert entry["reviews"][0]["comment"] == "femur edge fine"
    gallery = fresh_client.get("/api/models/run-001/cases", params={"page_size": 12}).json()
    row = next(r for r in gallery["rows"] if r["case_id"] == "case-0004")
    assert row["acceptance"] == {"accepted": 1, "reviewed": 1, "rate": 1.0}


@pytest.mark.parametrize(("change", "field"), [
    ({"verdict": "maybe"}, "verdict"),
    ({"reviewer": ""}, "reviewer"),
    ({"reviewer": "   "}, "reviewer"),
    ({"reviewer": "x" * 101}, "reviewer"),
    ({"comment": "x" * (MAX_COMMENT_LENGTH + 1)}, "comment"),
    ({"colour": "red"}, "colour"),
])
def test_invalid_reviews_are_refused(fresh_client, change, field):
    response = fresh_client.post("/api/reviews", json=REVIEW | change)
    assert response.status_code == 422
    assert field in str(response.json()["detail"])
    assert fresh_client.get("/api/reviews").json() == []


def test_invalid_form_gets_an_html_error(fresh_client):
    form = {k: v for k, v in REVIEW.items() if k != "case_id"} | {"verdict": "perhaps"}
    response = fresh_client.post("/cases/case-0004/reviews", data=form)
    assert response.status_code == 422
    assert "the form was not accepted: verdict" in response.text
    assert fresh_client.get("/api/reviews").json() == []


@pytest.mark.parametrize(("change", "text"), [
    ({"model_ref": "run-003"}, "run-003' has no finished evaluation"),
    ({"case_id": "case-9999"}, "case 'case-9999' is not in case set"),
    ({"case_set": "nope"}, "case set 'nope'"),
])
def test_reviews_of_unknown_things_are_404(fresh_client, change, text):
    response = fresh_client.post("/api/reviews", json=REVIEW | change)
    assert response.status_code == 404
    assert text in response.json()["detail"]
