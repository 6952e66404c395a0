"""New cases in the dashboard: the "review first" page and its JSON, and the page of a case
without a reference label (which used to answer 404), on a real workspace (:mod:`newcase_data`).
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from newcase_data import DISAGREE, MODELS, build_new_case_workspace


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, tiny_phantom):
    ws, case_set = build_new_case_workspace(tmp_path_factory.mktemp("newcases") / "ws",
                                            tiny_phantom)
    yield ws, case_set
    ws.dispose()


@pytest.fixture
def client(workspace, make_client):
    return make_client(workspace[0])


def test_review_page_orders_cases_by_disagreement_and_links_them(workspace, client):
    _, case_set = workspace
    html = client.get(f"/case-sets/{case_set}/review").text
    rows = re.findall(r'<tr data-case="([^"]+)">', html)
    assert len(rows) == 5
    queue = client.get(f"/api/case-sets/{case_set}/review-queue").json()
    assert [c["case_id"] for c in queue["cases"]] == rows
    assert all(c["score"] > 0.1 for c in queue["cases"][:DISAGREE])
    assert sorted(queue["top_models"]) == sorted(MODELS)
    assert f'href="/cases/{quote(rows[0])}?case_set={case_set}"' in html
    assert 'id="input-drift"' in html and 'id="output-signals"' in html
    assert "fg_mean" in queue["drifting"]["(all)"]
    assert "--reviewed" in html and "not that a model fails" in html


def test_review_page_finds_new_cases_by_name(workspace, client):
    _, case_set = workspace
    assert client.get("/api/case-sets/lyon/review-queue").json()["case_set"]["id"] == case_set
    assert client.get("/api/case-sets/nowhere/review-queue").status_code == 404


def test_unlabelled_case_page_shows_predictions_without_metrics(workspace, client):
    _, case_set = workspace
    case_id = client.get(f"/api/case-sets/{case_set}/review-queue").json()["cases"][0]["case_id"]
    response = client.get(f"/cases/{case_id}", params={"case_set": case_set})
    assert response.status_code == 200
    assert 'id="no-reference"' in response.text
    assert all(f'data-model="{m}"' in response.text for m in MODELS)
    data = client.get(f"/api/cases/{case_id}", params={"case_set": case_set}).json()
    assert data["metric"] is None and data["columns"] == []
    assert [e["model"] for e in data["entries"]] == sorted(MODELS)


def test_a_review_shows_in_the_queue(workspace, client):
    _, case_set = workspace
    first = client.get(f"/api/case-sets/{case_set}/review-queue").json()["cases"][0]["case_id"]
    form = {"model_ref": MODELS[0], "case_set": case_set, "reviewer": "dr. ann",
            "verdict": "acceptable"}
    response = client.post(f"/cases/{first}/reviews", data=form, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/cases/{first}?case_set={case_set}"
    queue = client.get(f"/api/case-sets/{case_set}/review-queue").json()["cases"]
    entry = next(c for c in queue if c["case_id"] == first)
    assert (entry["reviewed"], entry["accepted"]) == (1, 1)
