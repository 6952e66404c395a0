"""The dashboard in a real browser: Chromium against ``medselect serve`` on 127.0.0.1.

What a clinician does: read the choice (made on the validation split, confirmed on the test
split the dashboard opens on), switch to the validation split and read each model's standing
there, sort the leaderboard by HD95, open a
model's gallery (worst case first, images that load, click to enlarge), review a prediction and
see the acceptance rate move, and open the static report from disk. Each page is saved to
``test-artifacts/screenshots``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from live_server import BROWSER_MARKS

from medselect.dashboard import export_static
from medselect.dashboard.render import num
from medselect.store import Workspace

pytestmark = BROWSER_MARKS
sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need Playwright")
expect = sync_api.expect

ROW_MODELS = "rows => rows.map((row) => row.dataset.model)"
IMAGES_LOADED = """(images) => images.length > 0
    && images.every((img) => img.complete && img.naturalWidth > 0)"""


def leaderboard_models(page) -> list[str]:
    return page.locator("#leaderboard tbody tr").evaluate_all(ROW_MODELS)


def test_standings_unresolved_models_and_the_choice(page, base_url, api, screenshot):
    page.goto(base_url + "/")
    board = api("/api/leaderboard")
    assert board["case_set"]["kind"] == "test"  # the set that confirms opens first
    standings = page.locator('#leaderboard tbody td[data-key="standing"]').all_inner_texts()
    assert standings == [r["standing"] for r in board["rows"]]
    expect(page.locator("#choice")).to_contain_text("This is the confirmation set")
    chosen = board["choice"]["model"]
    expect(page.locator(f'#leaderboard tr[data-model="{chosen}"] .badge.chosen')).to_have_text(
        "chosen on val")
    screenshot(page, "leaderboard-confirmation-set")
    page.locator(".pills a.pill", has_text=re.compile(r"^val")).click()
    page.wait_for_url(re.compile(r"case_set=dv-sample-val"))
    board = api("/api/leaderboard?case_set=val")
    unresolved = [r["model"] for r in board["rows"] if r["standing"] == "unresolved"]
    assert unresolved  # a zero margin: the equally good models cannot be shown equivalent
    note = page.locator("#unresolved-note")
    expect(note).to_be_visible()
    expect(note).to_contain_text(f"not enough evidence to separate {', '.join(unresolved)} "
                                 f"from {board['rows'][0]['model']}")
    for model in unresolved:
        row = page.locator(f'#leaderboard tr[data-model="{model}"]')
        expect(row).not_to_have_class(re.compile(r"\bbest-group\b"))
        expect(row.locator(".badge.standing")).to_have_text("unresolved")
    green = page.locator("#leaderboard tr.best-group").evaluate_all(ROW_MODELS)
    assert green == board["best_group"]
    choice = page.locator("#choice")
    expect(choice).to_contain_text(f"Chosen on val ({board['n_patients']} patients")
    expect(choice).to_contain_text("confirmed on test")
    expect(page.locator("#ranking-rules")).to_contain_text("patients")
    screenshot(page, "leaderboard-standings")


def test_sort_leaderboard_by_hd95_column(page, base_url, api, screenshot):
    page.goto(base_url + "/")
    by_dice = api("/api/leaderboard")
    assert leaderboard_models(page) == [r["model"] for r in by_dice["rows"]]
    by_hd95 = api("/api/leaderboard?metric=hd95")
    expected = [r["model"] for r in by_hd95["rows"]]
    assert expected != leaderboard_models(page)  # the sample ranks them differently
    header = page.locator('#leaderboard th[data-key="m-hd95"]')
    header.click()
    expect(header).to_have_class(re.compile(r"\bsorted-asc\b"))  # lower HD95 is better
    assert leaderboard_models(page) == expected
    cells = page.locator('#leaderboard tbody td[data-key="m-hd95"]').all_inner_texts()
    assert cells == [num(r["aggregate"], 4) for r in by_hd95["rows"]]
    screenshot(page, "leaderboard-sorted-by-hd95")
    header.click()
    expect(header).to_have_class(re.compile(r"\bsorted-desc\b"))
    assert leaderboard_models(page) == expected[::-1]


def test_model_gallery_loads_images_worst_first(page, base_url, api, screenshot):
    model = api("/api/leaderboard")["rows"][-1]["model"]  # the worst model has a missing case
    page.goto(base_url + "/")
    page.locator(f'#leaderboard tr[data-model="{model}"] a[href^="/models/"]').click()
    expect(page.locator("h1")).to_contain_text(model)
    gallery = api(f"/api/models/{model}/cases")
    shown = page.locator("#gallery tbody tr td[data-key=case]").all_inner_texts()
    assert shown == [r["case_id"] for r in gallery["rows"]]
    dice = [r["values"]["dice"] for r in gallery["rows"]]
    assert dice[0] is None  # no prediction: the worst of all
    assert dice[1:] == sorted(dice[1:])  # then the lowest Dice first
    thumbs = page.locator("#gallery img.thumb")
    assert thumbs.count() == len(gallery["rows"]) - 1
    page.mouse.wheel(0, 10_000)  # lazy images below the fold
    page.wait_for_function(IMAGES_LOADED, arg=thumbs.element_handles(), timeout=10_000)
    screenshot(page, "model")
    thumbs.first.click()
    enlarged = page.locator("dialog#enlarge img")
    expect(page.locator("dialog#enlarge")).to_be_visible()
    page.wait_for_function(IMAGES_LOADED, arg=[enlarged.element_handle()], timeout=10_000)
    screenshot(page, "model-enlarged-overlay", full_page=False)


def test_review_changes_the_acceptance_rate(page, base_url, api, screenshot):
    model, case_id = "run-001", "case-0005"  # a case of the default case set (test)
    before = acceptance_cell(page, base_url, model)
    assert before == "–"  # nobody reviewed it yet
    page.goto(f"{base_url}/cases/{case_id}")
    card = page.locator(f'article.card[data-model="{model}"]')
    card.get_by_label("Reviewer").fill("Dr. Osei")
    card.get_by_label("Comment").fill("femur contour leaks into the joint space <b>")
    card.get_by_label("not acceptable").check()
    card.get_by_role("button", name="Save review").click()
    page.wait_for_url(re.compile(rf"/cases/{case_id}"))
    review = page.locator(f'article.card[data-model="{model}"] li.review')
    expect(review).to_contain_text("Dr. Osei")
    expect(review).to_contain_text("not acceptable")
    expect(review.locator(".comment")).to_have_text("femur contour leaks into the joint space <b>")
    screenshot(page, "case-reviewed")
    assert acceptance_cell(page, base_url, model).startswith("0% (0/1)")
    row = next(r for r in api("/api/leaderboard")["rows"] if r["model"] == model)
    assert row["acceptance"] == {"accepted": 0, "reviewed": 1, "rate": 0.0}
    screenshot(page, "leaderboard-after-review")


def acceptance_cell(page, base_url: str, model: str) -> str:
    page.goto(base_url + "/")
    return page.locator(f'#leaderboard tr[data-model="{model}"] td[data-key=acceptance]'
                        ).inner_text().strip()


def test_static_report_opens_from_disk(page, workspace_root, tmp_path, api, screenshot):
    workspace = Workspace.open(workspace_root)
    try:
        index = export_static(workspace, tmp_path / "report", n_resamples=200)
    finally:
        workspace.dispose()
    page.goto(Path(index).as_uri())
    expected = [r["model"] for r in api("/api/leaderboard")["rows"]]
    assert leaderboard_models(page) == expected
    expect(page.locator("#chart-ci.js-plotly-plot")).to_be_visible()  # plotly.js from disk
    screenshot(page, "static-leaderboard")
    page.locator(f'#leaderboard tr[data-model="{expected[0]}"] a').first.click()
    expect(page.locator("h1")).to_contain_text(expected[0])
    thumbs = page.locator("#gallery img.thumb")
    page.wait_for_function(IMAGES_LOADED, arg=thumbs.element_handles()[:5], timeout=10_000)
    screenshot(page, "static-model")


def test_charts_draw_with_the_partial_plotly_bundle(page, base_url):
    """Every trace type the pages use (scatter, heatmap, box) draws with plotly.js's cartesian
    bundle, the only chart library a page loads (and only a page with charts)."""
    scripts: list[str] = []
    page.on("request", lambda r: scripts.append(r.url) if r.resource_type == "script" else None)
    page.goto(base_url + "/")
    for layer in ("#chart-ci .scatterlayer .trace", "#chart-stability .scatterlayer .trace",
                  "#chart-significance .heatmaplayer .hm"):
        expect(page.locator(layer).first).to_be_attached()
    model = leaderboard_models(page)[0]
    page.goto(f"{base_url}/models/{model}")
    expect(page.locator("#chart-box-dice .boxlayer .trace").first).to_be_attached()
    assert {re.sub(r"\?.*", "", u.removeprefix(base_url)) for u in scripts
            if "plotly" in u} == {"/static/vendor/plotly/plotly-cartesian.min.js"}
    scripts.clear()
    page.goto(f"{base_url}/registry")
    assert scripts and not [u for u in scripts if "plotly" in u]


CHARTS_DRAWN = "medselect:charts-drawn"


@pytest.mark.parametrize("path", ["/", "/models/run-000"])
def test_charts_are_drawn_after_the_page_has_loaded(page, base_url, path):
    """The tables and text show without waiting for plotly.js: it is fetched once the page has
    loaded, and marks record when the charts in the window and the last chart are drawn (what
    bench_pages.py reports)."""
    page.goto(base_url + path)
    page.wait_for_function("(mark) => performance.getEntriesByName(mark).length > 0",
                           arg=CHARTS_DRAWN)
    loaded, fetched, view, drawn = page.evaluate("""(mark) => [
        performance.getEntriesByType("navigation")[0].loadEventStart,
        performance.getEntriesByType("resource").find((r) => r.name.includes("plotly")).startTime,
        performance.getEntriesByName("medselect:view-drawn")[0].startTime,
        performance.getEntriesByName(mark)[0].startTime]""", CHARTS_DRAWN)
    assert loaded <= fetched <= drawn and loaded <= view <= drawn
    assert page.locator("div.chart.js-plotly-plot").count() == page.locator("div.chart").count()
