"""Cross-site request forgery in a real browser: a page served from another local origin
(127.0.0.1, another port: the same site to the browser, which then shares its cookies) cannot
submit the review form, post an upload or a review, or frame the dashboard; the dashboard's own
review and upload forms still work, and none of its pages breaks its Content-Security-Policy.

The dashboard serves its own sample workspace (module-scoped), so the reviews and the upload
made here leave the other browser tests' workspace alone.
"""

from __future__ import annotations

import http.server
import json
import re
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from live_server import CHROMIUM, free_port, live_server
from PIL import Image

from medselect.testing.sample import build_sample_workspace

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"browser tests need Debian's Chromium at "
                       f"{CHROMIUM} (apt-get install chromium)"),
    pytest.mark.xdist_group("browser"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need Playwright")
expect = sync_api.expect

CASE, MODEL, CASE_SET = "case-0004", "run-001", "dv-sample-test"
PAGES = ["/", f"/?case_set={CASE_SET}&metric=hd95", "/models/run-000", f"/cases/{CASE}",
         "/compare?models=run-000&models=run-001", "/registry", "/upload", "/api"]
RECORD_VIOLATIONS = """window.__violations = [];
document.addEventListener("securitypolicyviolation",
    (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));"""


def attacks(dashboard: str) -> dict[str, str]:
    """The attacker's pages, by path."""
    review = {"model_ref": MODEL, "case_set": CASE_SET, "reviewer": "Dr. Forged",
              "verdict": "acceptable"}
    fields = "".join(f'<input name="{k}" value="{v}">' for k, v in review.items())
    return {
        "/form": f"""<form id="f" method="post" action="{dashboard}/cases/{CASE}/reviews">
            {fields}</form><script>document.getElementById("f").submit();</script>""",
        "/fetch": f"""<script>
            const upload = new FormData();
            upload.append("images", new Blob(["\\x89PNG\\r\\n\\x1a\\n"]), "a.png");
            const review = JSON.stringify({{...{review!r}, case_id: "{CASE}"}});
            Promise.allSettled([
              fetch("{dashboard}/api/uploads", {{method: "POST", mode: "no-cors",
                                                 body: upload, credentials: "include"}}),
              fetch("{dashboard}/api/reviews", {{method: "POST", mode: "no-cors", body: review,
                                                 credentials: "include"}}),
            ]).then(() => {{ document.title = "sent"; }});
            </script>""",
        "/frame": f"""<iframe src="{dashboard}/cases/{CASE}" width="800" height="600"></iframe>""",
    }


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("csrf") / "ws"
    build_sample_workspace(root).dispose()
    return root


@pytest.fixture(scope="module")
def base_url(workspace) -> Iterator[str]:
    with live_server(workspace, workspace.parent / "server.log") as url:
        yield url


@pytest.fixture(scope="module")
def attacker(base_url) -> Iterator[str]:
    """A second local origin serving the attacker's pages."""
    pages = attacks(base_url)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f"<!doctype html><title>evil</title>{pages.get(self.path, '')}".encode()
            self.send_response(200 if self.path in pages else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def victim(browser, base_url):
    """A tab of a browser that has the dashboard open (its session cookie set); the attacks
    run there, where console errors (the refusals) are expected."""
    context = browser.new_context()
    tab = context.new_page()
    tab.goto(f"{base_url}/cases/{CASE}")
    yield tab
    context.close()


def reviewers(base_url: str) -> list[str]:
    with urllib.request.urlopen(f"{base_url}/api/reviews", timeout=10) as response:
        return [r["reviewer"] for r in json.load(response)]


def test_another_origin_cannot_submit_the_review_form(victim, attacker, base_url):
    tab = victim
    with tab.expect_response(f"{base_url}/cases/{CASE}/reviews") as answer:
        tab.goto(f"{attacker}/form")
    assert answer.value.status == 403
    expect(tab.locator("main")).to_contain_text("cross-origin request refused")
    assert "Dr. Forged" not in reviewers(base_url)


def test_another_origin_cannot_post_uploads_or_reviews(victim, attacker, base_url,
                                                       workspace):
    """The browser sends both requests (no preflight is needed for them); the server refuses
    them, and the browser does not even hand the refusals to the page
    (Cross-Origin-Resource-Policy)."""
    tab = victim
    sent = []
    tab.on("request", lambda r: sent.append((r.method, r.url.removeprefix(base_url))))
    tab.goto(f"{attacker}/fetch")
    expect(tab).to_have_title("sent")
    assert {("POST", "/api/uploads"), ("POST", "/api/reviews")} <= set(sent)
    assert not (workspace / "uploads").exists()
    assert "Dr. Forged" not in reviewers(base_url)


def test_another_origin_cannot_frame_the_dashboard(victim, attacker):
    with victim.expect_console_message(lambda m: "frame-ancestors 'none'" in m.text):
        victim.goto(f"{attacker}/frame")
    expect(victim.frame_locator("iframe").locator("form.review-form")).to_have_count(0)


def test_every_page_keeps_its_content_security_policy(page, base_url):
    page.add_init_script(RECORD_VIOLATIONS)
    for path in PAGES:
        page.goto(base_url + path)
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.__violations") == [], path
    page.goto(f"{base_url}/")
    expect(page.locator(".js-plotly-plot").first).to_be_visible()  # the charts drew


def test_the_dashboards_own_forms_still_work(page, base_url, tmp_path):
    page.add_init_script(RECORD_VIOLATIONS)
    page.goto(f"{base_url}/cases/{CASE}")
    card = page.locator(f'article.card[data-model="{MODEL}"]')
    card.get_by_label("Reviewer").fill("Dr. Real")
    card.get_by_label("acceptable", exact=True).check()
    card.get_by_role("button", name="Save review").click()
    reviews = page.locator(f'article.card[data-model="{MODEL}"] li.review')
    expect(reviews.filter(has_text="Dr. Real")).to_have_count(1)
    assert "Dr. Real" in reviewers(base_url)

    image = tmp_path / "knee.png"
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(image)
    page.goto(f"{base_url}/upload")
    page.locator('input[name="images"]').set_input_files(str(image))
    page.get_by_role("button", name="Upload and predict").click()
    expect(page).to_have_url(re.compile(r"/uploads/\d{8}-\d{6}-[0-9a-f]{6}$"))
    assert page.evaluate("window.__violations") == []
