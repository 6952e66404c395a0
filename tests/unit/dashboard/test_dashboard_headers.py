"""Security headers on every kind of response, and pages that need no inline script."""

from __future__ import annotations

import re
import warnings

import pytest

from medselect.dashboard import DashboardSettings, create_app
from medselect.dashboard.deps import get_conn
from medselect.dashboard.headers import SECURITY_HEADERS

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

TOKEN = "a-test-token-that-is-long-enough"
PAGES = ["/", "/models/run-000", "/cases/case-0001", "/compare?models=run-000&models=run-001",
         "/registry", "/upload", "/api"]
LOOPBACK = {
    "page": ("GET", "/", {}, 200),
    "JSON": ("GET", "/api/leaderboard", {}, 200),
    "static file": ("GET", "/static/app.css", {}, 200),
    "plotly.js": ("GET", "/static/vendor/plotly/plotly-cartesian.min.js", {}, 200),
    "artifact": ("GET", "/artifacts/evaluations/ev-run-000/case-0001.png", {}, 200),
    "page not found": ("GET", "/nothing-here", {}, 404),
    "API not found": ("GET", "/api/models/run-999", {}, 404),
    "method not allowed": ("DELETE", "/api/leaderboard", {}, 405),
    "invalid request": ("GET", "/api/models/run-000/cases?page=0", {}, 422),
    "foreign Host": ("GET", "/", {"Host": "evil.example"}, 400),
    "cross-origin POST": ("POST", "/api/reviews", {"Origin": "http://evil.example"}, 403),
    "form body to a JSON route": ("POST", "/api/reviews",
                                  {"Content-Type": "application/x-www-form-urlencoded"}, 415),
}


def assert_secured(response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (name, response.status_code)


def test_the_policy_runs_no_inline_script_and_forbids_framing():
    policy = dict(d.strip().split(" ", 1) for d in
                  SECURITY_HEADERS["Content-Security-Policy"].split(";"))
    assert policy["script-src"] == "'self'" and policy["default-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'"
    assert SECURITY_HEADERS["X-Frame-Options"] == "DENY"
    assert SECURITY_HEADERS["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(("method", "path", "headers", "status"), LOOPBACK.values(),
                         ids=LOOPBACK.keys())
def test_every_kind_of_response_carries_the_headers(client, method, path, headers, status):
    response = client.request(method, path, headers=headers, follow_redirects=False)
    assert response.status_code == status
    assert_secured(response)


@pytest.mark.parametrize(("path", "status"), [("/", 401), (f"/?token={TOKEN}", 303)])
def test_token_refusals_and_redirects_carry_the_headers(sample_ws, make_client, path, status):
    remote = make_client(sample_ws, host="0.0.0.0", token=TOKEN)
    response = remote.get(path, follow_redirects=False)
    assert response.status_code == status
    assert_secured(response)


def test_an_unexpected_error_carries_the_headers(sample_ws):
    def broken():
        raise RuntimeError("the database went away")

    app = create_app(DashboardSettings(workspace=sample_ws.root), workspace=sample_ws)
    app.dependency_overrides[get_conn] = broken
    response = TestClient(app, base_url="http://127.0.0.1:8000",
                          raise_server_exceptions=False).get("/api/leaderboard")
    assert response.status_code == 500
    assert "the database went away" not in response.text
    assert_secured(response)


@pytest.mark.parametrize("path", PAGES)
def test_pages_have_no_inline_script_and_carry_the_headers(client, path):
    """Every script is a file of this server or a JSON data block, as the policy demands."""
    response = client.get(path)
    assert response.status_code == 200
    assert_secured(response)
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", response.text, re.S)
    inline = [body[:80] for attributes, body in scripts
              if "src=" not in attributes and 'type="application/json"' not in attributes]
    assert inline == []
    assert not re.search(r"\son[a-z]+=", response.text), "inline event handler"
