"""Other task kinds in a real browser: a classification leaderboard ranked by AUC (a set
metric: no aggregate to choose, bootstrap intervals and test) and a landmarks model page (its
gallery worst first by MRE, landmark overlays that load, per-landmark radial errors).

Each kind is a sample workspace served by its own ``medselect serve``."""

from __future__ import annotations

import contextlib
import json
import re
import urllib.request
from collections.abc import Iterator

import pytest
from live_server import BROWSER_MARKS, live_server

from medselect.dashboard.render import num
from medselect.testing.sample import build_sample_workspace

pytestmark = BROWSER_MARKS
sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need Playwright")
expect = sync_api.expect

KINDS = ("classification", "landmarks")
IMAGES_LOADED = """(images) => images.length > 0
    && images.every((img) => img.complete && img.naturalWidth > 0)"""


@pytest.fixture(scope="module")
def kind_urls(tmp_path_factory) -> Iterator[dict[str, str]]:
    """Kind -> base URL of a server on that kind's sample workspace (4 models, 16 cases)."""
    with contextlib.ExitStack() as stack:
        urls = {}
        for kind in KINDS:
            root = tmp_path_factory.mktemp(kind) / "ws"
            build_sample_workspace(root, kind=kind, n_models=4, n_cases=16).dispose()
            urls[kind] = stack.enter_context(live_server(root, root.parent / "server.log"))
        yield urls


@pytest.fixture
def served(kind_urls) -> tuple[str, ...]:
    return tuple(kind_urls.values())


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def test_classification_leaderboard_ranked_by_auc(page, kind_urls, screenshot):
    base = kind_urls["classification"]
    page.goto(base + "/?metric=probability&aggregate=median")
    page.locator(".pills a.pill", has_text=re.compile(r"^auc$")).click()
    page.wait_for_url(re.compile(r"metric=auc&label=thinning"))
    board = get_json(base + "/api/leaderboard?metric=auc")
    assert board["test"] == "bootstrap"
    rows = page.locator("#leaderboard tbody tr")
    assert rows.evaluate_all("rows => rows.map((row) => row.dataset.model)") == [
        r["model"] for r in board["rows"]]
    cells = page.locator('#leaderboard tbody td[data-key="aggregate"]').all_inner_texts()
    assert cells == [num(r["aggregate"], 4) for r in board["rows"]]
    expect(page.locator('#leaderboard th[data-key="aggregate"]')).to_have_text("auc")
    expect(page.locator(".pill.fixed")).to_have_text("auc over all cases")
    assert page.locator(".pills a.pill", has_text="median").count() == 0  # nothing to choose
    expect(page.locator(".cibar")).to_have_count(len(board["rows"]))
    expect(page.locator(".summary")).to_contain_text("paired bootstrap test")
    expect(page.locator('#leaderboard th[data-key="m-ece"]')).to_have_text("ece")
    expect(page.locator("#chart-significance.js-plotly-plot")).to_contain_text("bootstrap")
    screenshot(page, "classification-leaderboard-auc")


def test_landmarks_model_page(page, kind_urls, screenshot):
    base = kind_urls["landmarks"]
    page.goto(base + "/models/run-001")
    expect(page.locator("h1")).to_contain_text("run-001")
    expect(page.locator("#cases")).to_contain_text("sorted by mre worst first")
    gallery = get_json(base + "/api/models/run-001/cases")
    mre = page.locator('#gallery tbody td[data-key="m-mre"]').all_inner_texts()
    assert mre == [num(r["values"]["mre"], 4) for r in gallery["rows"]]
    values = [r["values"]["mre"] for r in gallery["rows"]]
    assert values == sorted(values, reverse=True)  # largest error first
    expect(page.locator("#chart-box-mre.js-plotly-plot")).to_be_visible()
    expect(page.locator('#metric-summary tr[data-metric="mre"] td[data-label="mean"]')
           ).to_contain_text("–")  # the MRE and its interval per landmark
    thumbs = page.locator("#gallery img.thumb")
    page.mouse.wheel(0, 10_000)  # lazy images below the fold
    page.wait_for_function(IMAGES_LOADED, arg=thumbs.element_handles(), timeout=10_000)
    screenshot(page, "landmarks-model")
    page.locator(".pills a.pill", has_text="patella_apex").click()
    expect(page.locator('#gallery th[data-key="m-radial_error"]')).to_contain_text("▼")
    errors = page.locator('#gallery tbody td[data-key="m-radial_error"]').all_inner_texts()
    assert errors == sorted(errors, key=float, reverse=True)
