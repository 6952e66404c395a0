"""The registry page in a real browser: reached from the navigation, the audit chain's state,
each champion's evidence, the budget advice highlighted, the history rows rendered, a decision
report opened from its link.

The dashboard serves the sample workspace (run-000 the global champion) with its test set as
the reference set and a registry history made through the gate: in global run-001 forced in
and rolled back, then run-002 rejected (two looks: 75% of alpha spent, a refresh advised); in
site:north run-000 promoted first, run-001 rejected.
"""

from __future__ import annotations

import pytest
from live_server import BROWSER_MARKS, live_server
from wide_sample import add_registry_history

from medselect.testing.sample import build_sample_workspace

pytestmark = BROWSER_MARKS
sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need Playwright")
expect = sync_api.expect


@pytest.fixture(scope="module")
def base_url(tmp_path_factory):
    """A live server on the sample with a registry history (overrides the shared server)."""
    folder = tmp_path_factory.mktemp("registry-browser")
    ws = build_sample_workspace(folder / "ws")
    try:
        add_registry_history(ws)
    finally:
        ws.dispose()
    with live_server(folder / "ws", folder / "server.log") as url:
        yield url


def test_registry_page_shows_the_budget_advice_and_the_history(page, base_url, screenshot):
    page.goto(base_url + "/")
    page.locator("header.top nav").get_by_role("link", name="Registry").click()
    expect(page.locator("h1")).to_contain_text("Registry")
    glob = page.locator('section.registry-scope[data-scope="global"]')
    advice = glob.locator(".budget .advice")
    expect(advice).to_be_visible()
    expect(advice).to_contain_text("75% of the reference set's alpha is spent")
    highlighted = glob.locator(".budget").evaluate("(el) => getComputedStyle(el).backgroundColor")
    assert highlighted == "rgb(255, 251, 221)"  # the yellow of a budget running low
    north = page.locator('section.registry-scope[data-scope="site:north"]')
    expect(north.locator(".budget .advice")).to_have_count(0)

    rows = glob.locator("table.registry-history tbody tr")
    expect(rows).to_have_count(3)
    newest = rows.first
    expect(newest).to_have_attribute("data-status", "rejected")
    expect(newest.locator("td").nth(1)).to_have_text("run-002")
    expect(newest.locator("td.look")).to_contain_text("look 2")
    expect(newest.locator("td.decision")).to_contain_text("run-002 is rejected")
    expect(rows.nth(1).locator(".badge.rolled-back")).to_be_visible()
    audit = page.locator("#audit")
    expect(audit).to_contain_text("Audit log intact")
    expect(audit).to_have_attribute("data-ok", "true")
    champion = page.locator('table.registry-champions tr[data-scope="site:north"]')
    expect(champion.locator("td.decision")).to_contain_text("run-000")
    expect(champion.get_by_role("link", name="decision report")).to_be_visible()
    screenshot(page, "registry")

    newest.get_by_role("link", name="decision report").click()
    expect(page.locator("h1")).to_have_text("Promotion decision for run-002: REJECTED")
    page.go_back()
    rows.nth(2).get_by_role("link", name="run-000").click()
    expect(page.locator("h1")).to_contain_text("run-000")
