"""Every HTML page renders what it promises, with escaped content and working links."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from html import unescape

import pytest

from medselect.dashboard.render import num, plural
from medselect.store import (
    Workspace,
    case_metric_table,
    put_evaluation,
    put_external_model,
    replace_case_metrics,
    upsert_run,
)
from medselect.testing.sample import CASE_SET, VERSION, build_sample_workspace


def charts_of(html: str) -> dict[str, dict]:
    """The Plotly figures a page embeds, by chart name."""
    found = re.findall(r'<script type="application/json" data-chart="chart-([\w-]+)">(.*?)'
                       r'</script>', html, re.S)
    return {name: json.loads(body) for name, body in found}


def hrefs(html: str) -> list[str]:
    return [unescape(h) for h in re.findall(r'(?:href|src)="([^"]+)"', html)]


def test_leaderboard_page(client):
    html = client.get("/").text
    assert "<h1>Leaderboard" in html
    for model in ("run-000", "run-001", "run-002"):
        assert f'href="/models/{model}?case_set=dv-sample-test"' in html
    assert "★ global" in html  # champion badge from the registry
    assert "best group" in html
    assert "run-003" in html and "CUDA out of memory" in html  # failed run with its error
    assert 'data-key="cfg-architecture" class="config" title="Architecture">Architecture' in html
    assert '<td data-key="cfg-loss" data-value="dice" class="config">dice</td>' in html
    assert html.count('<span class="cibar"') == 3  # a CI bar in every row
    assert 'data-sortable' in html and 'data-key="m-hd95"' in html
    assert re.search(r'<script src="/static/app\.js\?v=\w+" '
                     r'data-plotly="/static/vendor/plotly/plotly-cartesian\.min\.js\?v=', html)
    figures = charts_of(html)
    assert set(figures) == {"ci", "stability", "significance"}
    assert figures["ci"]["data"][0]["y"] == ["run-000", "run-001", "run-002"]
    assert figures["significance"]["data"][0]["type"] == "heatmap"


def test_leaderboard_page_selectors_keep_the_other_choices(client):
    html = client.get("/", params={"metric": "hd95", "aggregate": "p10", "site": "north"}).text
    links = hrefs(html)
    assert "/?case_set=dv-sample-test&metric=hd95&label=mean&aggregate=median&site=north" in links
    assert "/?case_set=dv-sample-test&metric=hd95&label=mean&aggregate=p10" in links  # all sites
    assert "p10 hd95" in html and "at site north" in html


def test_every_link_of_the_leaderboard_answers(client):
    for link in set(hrefs(client.get("/").text)):
        if link.startswith("/") and not link.startswith("/docs"):
            assert client.get(link).status_code == 200, link


def test_model_page(client):
    html = client.get("/models/run-001").text
    assert "<h1>run-001" in html
    assert "<th>Architecture</th><td>segresnet</td>" in html
    assert "preset “strong”" in html
    assert "<td><code>RandAffined</code></td><td>random scaling and shearing</td>" in html
    assert "scale_range = 0.1, 0.1" in html and '<td class="num">30%</td>' in html
    figures = charts_of(html)
    assert set(figures) == {"curves", "box-dice", "box-hd95"}
    assert [t["name"] for t in figures["curves"]["data"]] == ["train_loss", "val_dice",
                                                              "val_loss"]
    assert figures["box-dice"]["data"][0]["x"] == ["all sites (n=12)", "north (n=6)",
                                                   "south (n=6)"]
    thumbs = re.findall(r'<img class="thumb" src="([^"]+)" loading="lazy"', html)
    assert len(thumbs) == 12 and all(t.startswith("/artifacts/evaluations/") for t in thumbs)
    assert client.get(thumbs[0]).headers["content-type"] == "image/png"
    assert html.count("data-enlarge") == 12
    api = client.get("/api/models/run-001/cases").json()
    assert re.findall(r'data-value="(case-\d+)"', html) == [r["case_id"] for r in api["rows"]]


def test_model_page_gallery_is_paged_and_sorted_by_links(sample_ws, make_client):
    small = make_client(sample_ws, page_size=5)
    html = small.get("/models/run-002", params={"sort": "hd95"}).text
    assert "page 1 of 3" in html and "next →" in html
    assert re.findall(r'data-value="(case-\d+)"', html)[0] == "case-0011"  # missing: worst
    assert html.count('<img class="thumb"') == 4  # the missing case has no image
    page3 = small.get("/models/run-002", params={"sort": "hd95", "page": 3}).text
    assert "page 3 of 3" in page3 and "← previous" in page3


def test_case_page_shows_every_model_with_a_review_form(client):
    html = client.get("/cases/case-0011", params={"metric": "hd95"}).text
    order = re.findall(r'<article class="card" id="model-\d+" data-model="([\w-]+)"', html)
    assert order[2] == "run-002" and set(order) == {"run-000", "run-001", "run-002"}
    assert html.count('<img class="overlay"') == 2
    assert "missing: no prediction file" in html
    assert html.count('<form class="review-form" method="post" '
                      'action="/cases/case-0011/reviews">') == 2  # none without a prediction


def test_compare_page(client):
    html = client.get("/compare", params={"models": ["run-002", "run-000"],
                                          "metric": "hd95"}).text
    assert "Δ run-000 − run-002" in html
    assert 'class="num pos"' in html and 'class="num neg"' not in html  # lower HD95 is better
    assert re.search(r'<input type="checkbox" name="models" value="run-002" checked>', html)
    rows = re.findall(r'<td data-key="case" data-value="(case-\d+)">', html)
    assert rows[0] == "case-0011" and len(rows) == 12


def test_error_page_is_html_and_escaped(client):
    response = client.get("/models/<img src=x onerror=alert(1)>")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<img src=x" not in response.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in response.text


def test_augmentation_of_a_run_without_recorded_contents(fresh_ws, fresh_client):
    with fresh_ws.begin() as conn:
        upsert_run(conn, {"id": "run-000", "details": {}})
        upsert_run(conn, {"id": "run-002", "details": {"augmentation_preset": []}})
    assert "were not recorded with the run" in fresh_client.get("/models/run-000").text
    assert "training images were used as they are" in fresh_client.get("/models/run-002").text


def test_empty_workspace_says_what_to_do(tmp_path, make_client):
    ws = Workspace.create(tmp_path / "empty")
    try:
        client = make_client(ws)
        page = client.get("/")
        assert page.status_code == 200
        assert "Nothing to rank yet" in page.text and "medselect demo" in page.text
        assert client.get("/api/leaderboard").status_code == 404
    finally:
        ws.dispose()


def test_api_page_lists_the_json_routes(client):
    html = client.get("/api").text
    assert '<a href="/api/leaderboard"><code>/api/leaderboard</code></a>' in html
    assert "<code>/api/models/{ref}</code>" in html and "<code>POST</code>" in html
    assert "Models ranked by one metric" in html


def test_static_assets_and_plotly_are_served(client):
    js = client.get("/static/vendor/plotly/plotly-cartesian.min.js")
    assert js.status_code == 200 and b"plotly.js (cartesian - minified)" in js.content[:200]
    assert "sortTable" in client.get("/static/app.js").text
    assert client.get("/static/app.css").status_code == 200


@pytest.mark.parametrize("module", ["medselect.dashboard"])
def test_dashboard_imports_no_torch(module):
    code = f"import sys, {module}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_a_segmentation_model_page_has_aggregate_and_interval_per_metric_and_class(client):
    page = client.get("/api/models/run-001").json()
    summaries = {(v["metric"], v["label"]): v for v in page["summaries"]}
    assert set(summaries) == {(m, lb) for m in ("dice", "hd95")
                              for lb in ("mean", "femur", "tibia")}
    for metric, label in (("dice", "mean"), ("hd95", "femur")):
        board = client.get("/api/leaderboard", params={"metric": metric, "label": label}).json()
        row = next(r for r in board["rows"] if r["model"] == "run-001")
        shown = summaries[(metric, label)]
        assert shown["aggregate"] == "mean" and shown["per_case"]
        assert (shown["value"], shown["ci_low"], shown["ci_high"]) == pytest.approx(
            (row["aggregate"], row["ci_low"], row["ci_high"]), rel=1e-9)  # the same resamples
    html = client.get("/models/run-001").text
    grid = re.search(r'<table class="data summary-grid" id="metric-summary">(.*?)</table>',
                     html, re.S).group(1)
    assert re.findall(r'<th class="num" data-label="(\w+)">', grid) == ["mean", "femur",
                                                                       "tibia"]
    assert re.findall(r'<tr data-metric="(\w+)">', grid) == ["dice", "hd95"]
    cell = re.search(r'<tr data-metric="hd95">.*?<td class="num" data-label="femur">(.*?)</td>',
                     grid, re.S).group(1)
    value = summaries[("hd95", "femur")]
    assert f"<strong>{num(value['value'], 4)}</strong>" in cell
    assert f"{num(value['ci_low'], 3)}–{num(value['ci_high'], 3)}" in cell
    assert "12 cases of 10 patients" in html


def test_counts_are_spelled_with_correct_plurals():
    assert (plural(1, "case"), plural(2, "case"), plural(0, "patient")) == (
        "1 case", "2 cases", "0 patients")


def test_an_external_model_without_parameters_is_unknown_in_the_tie_break(tmp_path,
                                                                         make_client):
    ws = build_sample_workspace(tmp_path / "ws", ranking={
        "metric": "dice", "equivalence": {"dice": 0.5}, "tie_break": ["fewer_parameters"]})
    with ws.begin() as conn:  # predictions made elsewhere, exactly as good as run-000's
        put_external_model(conn, {"name": "nnunet", "task": "knee", "source_uri": "x"})
        put_evaluation(conn, {"id": "ev-nnunet", "model_ref": "external:nnunet",
                              "case_set": CASE_SET, "dataset_version": VERSION,
                              "status": "finished"})
        rows = case_metric_table(conn, case_set=CASE_SET, model_refs=["run-000"])
        replace_case_metrics(conn, "ev-nnunet", rows[["case_id", "metric", "label", "value"]]
                             .to_dict("records"))
    try:
        board = make_client(ws).get("/api/leaderboard").json()
    finally:
        ws.dispose()
    assert "external:nnunet unknown" in board["reason"] and "nan" not in board["reason"]
    assert "run-000 100 k parameters" in board["reason"]


def test_a_long_leaderboard_sends_the_rows_beyond_its_first_page_hidden(client, monkeypatch):
    """A browser lays out and paints the first page only; "Show more" and sorting (app.js)
    reach every row."""
    from medselect.dashboard.render import environment

    monkeypatch.setitem(environment().globals, "board_rows", 2)
    html = client.get("/").text
    rows = re.findall(r'<tr class="standing[^>]*>', html)
    assert len(rows) == 3 and [" hidden" in row for row in rows] == [False, False, True]
    assert '<table class="data" id="leaderboard" data-sortable data-page-size="2">' in html
