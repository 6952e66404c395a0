"""The pages a decision is made on, in a real browser at the README's 1440 px: the
leaderboard table whole on screen (metrics and reviews, run ids on one line), ranked by the
experts' acceptance too, and the sites page: reached from the navigation, saying where the
evidence is thin, its cells leading to a site's leaderboard and a model's gallery there.

The workspace is as wide as the demo's (:mod:`wide_sample`: 8 models, six metrics, three
sites, reviews of two models, a registry history).
"""

from __future__ import annotations

import re

import pytest
from live_server import BROWSER_MARKS, live_server
from wide_sample import build_wide_sample

from medselect.dashboard.render import num

pytestmark = BROWSER_MARKS
sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need Playwright")
expect = sync_api.expect

WIDE = {"width": 1440, "height": 900}
RIGHT_EDGE = "(el) => el.getBoundingClientRect().right"


@pytest.fixture(scope="module")
def base_url(tmp_path_factory):
    """A live server on the wide sample (overrides the shared server)."""
    folder = tmp_path_factory.mktemp("decision-browser")
    build_wide_sample(folder / "ws")
    with live_server(folder / "ws", folder / "server.log") as url:
        yield url


@pytest.fixture
def wide_page(browser, base_url):
    context = browser.new_context(viewport=WIDE)
    errors: list[str] = []
    tab = context.new_page()
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


@pytest.mark.parametrize("query", ["", "?metric=acceptance", "?metric=volume_diff_rel"])
def test_the_whole_table_is_on_screen_at_1440_px(wide_page, base_url, query, screenshot):
    page = wide_page
    page.goto(base_url + "/" + query)
    table = page.locator("#leaderboard")
    headers = table.locator("thead th")
    last = headers.last
    expect(last).to_have_text("Accepted")
    assert last.evaluate(RIGHT_EDGE) <= WIDE["width"]
    metrics = table.locator('thead th[data-key^="m-"]')
    # the other five of the demo's six metrics (all six beside acceptance), all on screen
    assert metrics.count() == (6 if "acceptance" in query else 5)
    assert max(metrics.evaluate_all("hs => hs.map((h) => h.getBoundingClientRect().right)")
               ) <= WIDE["width"]
    scroll = page.locator(".table-scroll").first
    assert scroll.evaluate("(el) => el.scrollWidth <= el.clientWidth")  # nothing off-screen
    for link in table.locator("td.model > a").all():  # a run id never wraps
        box = link.bounding_box()
        assert box["height"] < 24, link.inner_text()
    screenshot(page, "leaderboard-1440" + (query.replace("?metric=", "-") or ""))


def test_acceptance_ranks_the_reviewed_models_and_says_who_was_not(wide_page, base_url, api):
    page = wide_page
    page.goto(base_url + "/")
    page.locator(".pills a.pill", has_text=re.compile(r"^acceptance$")).click()
    page.wait_for_url(re.compile(r"metric=acceptance"))
    board = api("/api/leaderboard?metric=acceptance")
    expect(page.locator(".pills .pill.active.fixed")).to_have_text("acceptance over all cases")
    cells = page.locator('#leaderboard tbody td[data-key="aggregate"]').all_inner_texts()
    assert cells[:2] == [num(r["aggregate"], 4) for r in board["rows"][:2]]
    assert set(cells[2:]) == {"not reviewed"}
    expect(page.locator("section.summary")).to_contain_text("acceptance is undefined for")


def test_sites_page_from_the_navigation_to_a_sites_gallery(wide_page, base_url, api,
                                                           screenshot):
    page = wide_page
    page.goto(base_url + "/")
    page.locator("header.top nav").get_by_role("link", name="Sites").click()
    expect(page.locator("h1")).to_contain_text("Best model per site")
    sites = api("/api/sites")
    rows = page.locator("#sites tbody tr")
    expect(rows).to_have_count(len(sites["rows"]) + 1)  # and all sites together
    for shown, row in zip(rows.all()[:-1], sites["rows"], strict=True):
        expect(shown.locator("td").first).to_have_text(row["site"])
        expect(shown.locator("td.model a")).to_have_text(row["model"])
    verdict = page.locator("#site-verdict")
    expect(verdict).to_be_visible()
    if sites["thin"]:
        expect(page.locator("#thin-note")).to_contain_text("Too little evidence to tell")
    assert page.locator("#sites").evaluate(RIGHT_EDGE) <= WIDE["width"]
    screenshot(page, "sites")

    first = sites["rows"][0]
    rows.first.locator("td").first.get_by_role("link").click()
    page.wait_for_url(re.compile(rf"site={first['site']}"))
    expect(page.locator(".pills a.pill.active", has_text=first["site"])).to_be_visible()
    expect(page.locator("h1")).to_contain_text(f"at site {first['site']}")
    page.go_back()
    rows.first.locator("td.model a").click()
    expect(page.locator("h1")).to_contain_text(first["model"])
    sites_shown = page.locator("#gallery tbody td[data-key=site]").all_inner_texts()
    assert sites_shown and set(sites_shown) == {first["site"]}
