"""Cross-site request forgery: a page of another origin cannot make the user's browser change
anything (reviews, uploads), the dashboard's own forms still can, JSON routes take only JSON,
and scripts (no browser headers) keep working as before.

A browser marks every POST with ``Origin`` and, today, ``Sec-Fetch-Site``; the tests send
those headers as Chromium does (the browser test drives a real one).
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlencode

import pytest

from medselect.dashboard.security import CSRF_FIELD, SESSION_COOKIE

FORM = {"model_ref": "run-001", "case_set": "dv-sample-test", "reviewer": "Dr. Forged",
        "verdict": "acceptable", "comment": "forged"}
REVIEW = {**FORM, "case_id": "case-0004", "reviewer": "dr. ann"}
FROM_OUR_PAGE = {"Origin": "http://127.0.0.1:8000", "Sec-Fetch-Site": "same-origin"}
"""What Chromium sends with a form of the dashboard's own page (the clients' base URL)."""
FORGED = {
    "another site": {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
    "another port of this host": {"Origin": "http://127.0.0.1:9999", "Sec-Fetch-Site": "same-site"},
    "an old browser, Origin only": {"Origin": "http://evil.example"},
    "a sandboxed frame": {"Origin": "null"},
    "Sec-Fetch-Site only": {"Sec-Fetch-Site": "cross-site"},
}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def form_token(html: str) -> str:
    tokens = re.findall(rf'name="{CSRF_FIELD}" value="([^"]+)"', html)
    assert tokens and len(set(tokens)) == 1, "the page's forms carry no (or several) tokens"
    return tokens[0]


def reviewers(client) -> list[str]:
    return [r["reviewer"] for r in client.get("/api/reviews").json()]


@pytest.mark.parametrize("headers", FORGED.values(), ids=FORGED.keys())
def test_forged_review_form_is_refused_and_stores_nothing(fresh_client, headers):
    token = form_token(fresh_client.get("/cases/case-0004").text)  # even with the victim's token
    response = fresh_client.post("/cases/case-0004/reviews", data=FORM | {CSRF_FIELD: token},
                                 headers=headers, follow_redirects=False)
    assert response.status_code == 403
    assert "cross-origin request refused" in response.text
    assert "text/html" in response.headers["content-type"]  # the dashboard's error page
    assert reviewers(fresh_client) == []
    assert "Dr. Forged" not in fresh_client.get("/cases/case-0004").text


@pytest.mark.parametrize("headers", FORGED.values(), ids=FORGED.keys())
def test_forged_upload_is_refused_before_anything_is_written(fresh_ws, fresh_client, headers):
    response = fresh_client.post("/api/uploads", files=[("images", ("a.png", PNG))],
                                 headers=headers)
    assert response.status_code == 403
    assert "cross-origin request refused" in response.json()["detail"]
    assert not (fresh_ws.root / "uploads").exists()
    assert not list(fresh_ws.root.glob(".upload-*"))


def test_forged_json_review_is_refused(fresh_client):
    response = fresh_client.post("/api/reviews", json=REVIEW, headers=FORGED["another site"])
    assert response.status_code == 403
    assert reviewers(fresh_client) == []


def test_the_case_page_form_works_with_its_token(fresh_client):
    page = fresh_client.get("/cases/case-0004", headers={"Sec-Fetch-Site": "none"})
    cookie = page.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    token = form_token(page.text)
    response = fresh_client.post("/cases/case-0004/reviews", data=FORM | {CSRF_FIELD: token},
                                 headers=FROM_OUR_PAGE, follow_redirects=False)
    assert response.status_code == 303, response.text
    assert reviewers(fresh_client) == ["Dr. Forged"]
    again = fresh_client.get("/cases/case-0004")
    assert "set-cookie" not in again.headers and form_token(again.text) == token


@pytest.mark.parametrize(("token", "why"), [(None, "missing"), ("x" * 43, "not this session's")])
def test_a_browser_form_without_its_token_is_refused(fresh_client, token, why):
    fresh_client.get("/cases/case-0004")  # the session cookie is set
    data = FORM if token is None else FORM | {CSRF_FIELD: token}
    response = fresh_client.post("/cases/case-0004/reviews", data=data, headers=FROM_OUR_PAGE)
    assert response.status_code == 403, why
    assert "security token is missing or out of date" in response.text
    assert "reload the page" in response.text
    assert reviewers(fresh_client) == []


def test_a_token_is_bound_to_its_session_and_its_server(fresh_ws, fresh_client, make_client):
    """Another browser's token, a token with a planted cookie, and a token of a server since
    restarted are all refused."""
    token = form_token(fresh_client.get("/cases/case-0004").text)
    other = make_client(fresh_ws)
    other.get("/cases/case-0004")
    for client in (other, make_client(fresh_ws)):  # another session; no session at all
        response = client.post("/cases/case-0004/reviews", data=FORM | {CSRF_FIELD: token},
                               headers=FROM_OUR_PAGE)
        assert response.status_code == 403
    restarted = make_client(fresh_ws)
    restarted.cookies.set(SESSION_COOKIE, fresh_client.cookies[SESSION_COOKIE])
    response = restarted.post("/cases/case-0004/reviews", data=FORM | {CSRF_FIELD: token},
                              headers=FROM_OUR_PAGE)
    assert response.status_code == 403
    assert reviewers(fresh_client) == []


def test_the_upload_form_carries_a_token_the_upload_accepts_as_a_header(fresh_client):
    token = form_token(fresh_client.get("/upload").text)
    files = [("images", ("fake.png", b"GIF89a"))]
    without = fresh_client.post("/api/uploads", files=files, headers=FROM_OUR_PAGE)
    assert without.status_code == 403
    assert "security token" in without.json()["detail"]
    with_it = fresh_client.post("/api/uploads", files=files,
                                headers=FROM_OUR_PAGE | {"X-CSRF-Token": token})
    assert with_it.status_code == 415  # past the guard: the file itself is refused
    assert "fake.png" in with_it.json()["detail"]


@pytest.mark.parametrize(("content", "content_type"), [
    (urlencode(REVIEW), "application/x-www-form-urlencoded"),
    (json.dumps(REVIEW), "text/plain"),
    (json.dumps(REVIEW), None),
    ("--b\r\n\r\n--b--\r\n", "multipart/form-data; boundary=b"),
])
def test_a_json_route_refuses_other_bodies(fresh_client, content, content_type):
    """text/plain and no Content-Type are what a page of another site can send without a
    CORS preflight; FastAPI would parse a body without Content-Type as JSON."""
    headers = {"Content-Type": content_type} if content_type else {}
    response = fresh_client.post("/api/reviews", content=content, headers=headers)
    assert response.status_code == 415
    assert "takes JSON" in response.json()["detail"]
    assert "Content-Type: application/json" in response.json()["detail"]
    assert reviewers(fresh_client) == []


def test_a_form_route_refuses_json(fresh_client):
    response = fresh_client.post("/cases/case-0004/reviews", json=FORM)
    assert response.status_code == 415
    assert "takes a form" in response.text


def test_scripts_need_no_form_token(fresh_client):
    """curl or httpx send neither Origin nor Sec-Fetch-Site: on loopback they are the user."""
    assert fresh_client.post("/api/reviews", json=REVIEW).status_code == 201
    response = fresh_client.post("/cases/case-0005/reviews", data=FORM, follow_redirects=False)
    assert response.status_code == 303


def test_scripts_need_the_access_token_off_loopback(fresh_ws, make_client):
    token = "a-test-token-that-is-long-enough"
    remote = make_client(fresh_ws, host="0.0.0.0", token=token)
    assert remote.post("/api/reviews", json=REVIEW).status_code == 401
    stored = remote.post("/api/reviews", json=REVIEW, headers={"Authorization": f"Bearer {token}"})
    assert stored.status_code == 201
    forged = remote.post("/api/reviews", json=REVIEW,
                         headers={"Authorization": f"Bearer {token}"} | FORGED["another site"])
    assert forged.status_code == 403


def test_reading_sets_no_session(client):
    for path in ("/", "/api/leaderboard", "/static/app.js", "/models/run-000"):
        assert "set-cookie" not in client.get(path).headers, path
