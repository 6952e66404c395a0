"""Access token off loopback, Host check on loopback, artifacts confined to the workspace,
review text escaped, no API docs from a CDN."""

from __future__ import annotations

import os

import pytest

from medselect.dashboard import DashboardSettings, create_app, ensure_token, is_loopback
from medselect.dashboard.routes.artifacts import artifact_path
from medselect.dashboard.security import COOKIE
from medselect.errors import ConfigError, NotFound

TOKEN = "a-test-token-that-is-long-enough"

PROTECTED = ["/", "/api/leaderboard", "/models/run-000", "/cases/case-0001", "/compare",
             "/static/app.css", "/static/vendor/plotly/plotly-cartesian.min.js", "/api",
             "/openapi.json",
             "/artifacts/evaluations/ev-run-000/case-0001.png"]


@pytest.fixture(scope="module")
def remote(sample_ws, make_client):
    """The app as bound to every interface, with a token."""
    return make_client(sample_ws, host="0.0.0.0", token=TOKEN)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"])
def test_loopback_hosts(host):
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.org", ""])
def test_other_hosts_are_not_loopback(host):
    assert not is_loopback(host)


def test_a_reachable_app_needs_a_token(sample_ws):
    settings = DashboardSettings(workspace=sample_ws.root, host="0.0.0.0")
    with pytest.raises(ConfigError, match=r"binds '0\.0\.0\.0'.*needs an access token"):
        create_app(settings, workspace=sample_ws)
    generated = ensure_token(settings)
    assert len(generated.token) >= 32 and ensure_token(generated) == generated
    local = DashboardSettings(workspace=sample_ws.root)
    assert ensure_token(local).token is None


@pytest.mark.parametrize("path", PROTECTED)
def test_every_route_refuses_a_request_without_the_token(remote, path):
    response = remote.get(path)
    assert response.status_code == 401
    assert "access token" in response.text
    wrong = remote.get(path, headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401


@pytest.mark.parametrize("path", PROTECTED)
def test_bearer_token_opens_every_route(remote, path):
    response = remote.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200


def test_token_in_link_sets_a_cookie_and_is_dropped_from_the_url(sample_ws, make_client):
    browser = make_client(sample_ws, host="0.0.0.0", token=TOKEN)
    first = browser.get(f"/?metric=hd95&token={TOKEN}", follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"].endswith("/?metric=hd95")
    assert f"{COOKIE}={TOKEN}" in first.headers["set-cookie"]
    assert "httponly" in first.headers["set-cookie"].lower()
    assert "samesite=strict" in first.headers["set-cookie"].lower()
    assert browser.get("/?metric=hd95").status_code == 200  # the cookie now carries it
    assert browser.get("/api/leaderboard").status_code == 200
    bad = make_client(sample_ws, host="0.0.0.0", token=TOKEN)
    assert bad.get("/?token=guess", follow_redirects=False).status_code == 401


def test_loopback_app_needs_no_token(client):
    assert client.get("/api/leaderboard").status_code == 200


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:8000", "localhost", "LOCALHOST:8000",
                                  "[::1]", "[::1]:8000"])
def test_loopback_app_answers_loopback_host_names(client, host):
    assert client.get("/api/case-sets", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.evil.example",
                                  "localhost.evil.example:8000", "10.0.0.5:8000", "::1",
                                  "127.0.0.1:8000:1", "[::1]x", "testserver"])
@pytest.mark.parametrize("path", ["/", "/api/leaderboard", "/static/app.css",
                                  "/artifacts/evaluations/ev-run-000/case-0001.png"])
def test_loopback_app_refuses_other_host_names(client, host, path):
    """DNS rebinding: a page of evil.example re-pointed at 127.0.0.1 must get nothing."""
    response = client.get(path, headers={"Host": host})
    assert response.status_code == 400
    assert "DNS rebinding" in response.text and "case-" not in response.text


def test_loopback_app_accepts_the_address_it_binds(sample_ws, make_client):
    other = make_client(sample_ws, host="127.0.0.2")
    assert other.get("/api/case-sets", headers={"Host": "127.0.0.2:8000"}).status_code == 200
    assert other.get("/api/case-sets", headers={"Host": "127.0.0.3:8000"}).status_code == 400


def test_a_reachable_app_has_no_host_check(remote):
    response = remote.get("/api/case-sets", headers={"Authorization": f"Bearer {TOKEN}",
                                                    "Host": "dashboard.hospital.example"})
    assert response.status_code == 200


def test_api_docs_load_nothing_from_a_cdn(client):
    assert client.get("/docs").status_code == 404
    assert client.get("/redoc").status_code == 404
    page = client.get("/api").text
    assert "cdn" not in page.lower() and "/api/leaderboard" in page
    assert client.get("/openapi.json").status_code == 200


def test_artifact_inside_the_workspace_is_served(client):
    response = client.get("/artifacts/evaluations/ev-run-000/case-0001_thumb.png")
    assert response.status_code == 200
    assert response.content[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("path", [
    "/artifacts/../../../../etc/passwd",
    "/artifacts/evaluations/../../outside.png",
    "/artifacts/%2e%2e/%2e%2e/outside.png",
    "/artifacts/..%2f..%2foutside.png",
    "/artifacts/evaluations%2f..%2f..%2foutside.png",
    "/artifacts//etc/passwd",
    "/artifacts/%2fetc%2fpasswd",
    "/artifacts/medselect.db",
    "/artifacts/evaluations/ev-run-000/nothing-here.png",
    "/artifacts/evaluations/ev-run-000",
    "/artifacts/escape.png",
    "/artifacts/evaluations/linked-dir/outside.png",
])
def test_artifact_routes_serve_nothing_outside_the_workspace(sample_ws, client, path):
    outside = sample_ws.root.parent / "outside.png"
    outside.write_bytes(b"\x89PNG secret")
    for link, target in (("escape.png", outside), ("evaluations/linked-dir", outside.parent)):
        if not (sample_ws.root / link).is_symlink():
            os.symlink(target, sample_ws.root / link)
    response = client.get(path)
    assert response.status_code == 404
    assert b"secret" not in response.content and b"root:" not in response.content


@pytest.mark.parametrize("relative", [
    "../outside.png", "evaluations/../../outside.png", "/etc/passwd", "//etc/passwd",
    "\\etc\\passwd", "escape.png", "inside/link/outside.png", "medselect.db", "inside",
    "inside/a.png\x00.png", "inside/missing.png",
])
def test_artifact_path_refuses_anything_but_a_served_file_inside(tmp_path, relative):
    root = tmp_path / "ws"
    (root / "inside").mkdir(parents=True)
    (root / "inside" / "a.png").write_bytes(b"png")
    (root / "medselect.db").write_bytes(b"db")
    (tmp_path / "outside.png").write_bytes(b"secret")
    os.symlink(tmp_path / "outside.png", root / "escape.png")
    os.symlink(tmp_path, root / "inside" / "link")
    assert artifact_path(root, "inside/a.png") == (root / "inside" / "a.png").resolve()
    with pytest.raises(NotFound, match="no artifact"):
        artifact_path(root, relative)


def test_review_comment_is_escaped(fresh_client):
    script = "<script>alert('xss')</script>"
    response = fresh_client.post("/api/reviews", json={
        "model_ref": "run-001", "case_set": "dv-sample-test", "case_id": "case-0002",
        "reviewer": "<b>mallory</b>", "verdict": "not_acceptable", "comment": script})
    assert response.status_code == 201
    page = fresh_client.get("/cases/case-0002").text
    assert script not in page and "<b>mallory</b>" not in page
    assert "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;" in page
    assert "&lt;b&gt;mallory&lt;/b&gt;" in page
