"""Static files: the vendored plotly.js partial bundle (pinned, intact, licensed, holding every
trace type the charts draw), loaded by chart pages only, and served with HTTP caching that a
content hash in the URL makes safe."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from html import unescape

import pytest

from medselect.dashboard.assets import IMMUTABLE, REVALIDATE, asset_version, static_url
from medselect.dashboard.headers import SECURITY_HEADERS
from medselect.dashboard.render import PLOTLY_BUNDLE, STATIC

PLOTLY = (STATIC / PLOTLY_BUNDLE).parent
ROOT = STATIC.parents[3]
CHART_PAGES = ["/", "/models/run-000"]
PAGES_WITHOUT_CHARTS = ["/cases/case-0001", "/compare?models=run-000&models=run-001", "/sites",
                        "/registry", "/upload", "/api"]


def test_the_vendored_plotly_is_the_pinned_release_intact_and_licensed():
    version, checksum = (PLOTLY / "VERSION").read_text().splitlines()
    sha256, name = checksum.split()
    assert name == PLOTLY_BUNDLE.rsplit("/", 1)[1]
    assert hashlib.sha256((PLOTLY / name).read_bytes()).hexdigest() == sha256
    assert f'VERSION="${{1:-{version}}}"' in (ROOT / "scripts" / "refresh_plotly.sh").read_text()
    assert "MIT License" in (PLOTLY / "LICENSE").read_text()
    head = (PLOTLY / name).read_bytes()[:200].decode()
    assert f"plotly.js (cartesian - minified) v{version}" in head


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(),
                    reason="needs git and the repository")
def test_no_gitignore_pattern_keeps_the_bundle_out_of_the_wheel():
    """Hatch leaves out of the wheel whatever .gitignore matches."""
    ignored = subprocess.run(["git", "check-ignore", "--no-index", "-q",
                              str(PLOTLY / "plotly-cartesian.min.js")], cwd=ROOT, check=False)
    assert ignored.returncode == 1  # 1: not ignored


def scripts(html: str) -> list[str]:
    """The scripts a page loads: its own, and plotly.js, which app.js loads after the page
    when the script tag names it (``data-plotly``)."""
    tags = re.findall(r'<script src="([^"]+)"(?: data-plotly="([^"]+)")?', html)
    return [unescape(src) for tag in tags for src in tag if src]


def trace_types(html: str) -> set[str]:
    found = re.findall(r'<script type="application/json" data-chart="chart-[\w-]+">(.*?)'
                       r'</script>', html, re.S)
    return {trace["type"] for body in found for trace in json.loads(body)["data"]}


def test_the_bundle_holds_every_trace_type_the_charts_draw(client):
    drawn = set().union(*(trace_types(client.get(page).text) for page in CHART_PAGES))
    assert drawn == {"scatter", "heatmap", "box"}
    bundle = (STATIC / PLOTLY_BUNDLE).read_text()
    for kind in drawn:
        assert f'name:"{kind}",' in bundle, kind  # how plotly.js registers a trace module


@pytest.mark.parametrize("page", CHART_PAGES)
def test_chart_pages_load_the_partial_bundle(client, page):
    assert scripts(client.get(page).text) == [static_url("app.js"), static_url(PLOTLY_BUNDLE)]


@pytest.mark.parametrize("page", PAGES_WITHOUT_CHARTS)
def test_pages_without_charts_load_no_chart_library(client, page):
    html = client.get(page).text
    assert static_url("app.js") in scripts(html)
    assert not [src for src in scripts(html) if "plotly" in src] and "data-chart" not in html


@pytest.mark.parametrize("page", [*CHART_PAGES, "/cases/case-0001"])
def test_pages_link_static_files_by_their_current_version(client, page):
    html = client.get(page).text
    links = [unescape(u) for u in re.findall(r'(?:href|src)="(/static/[^"]+)"', html)]
    assert links
    for link in links:
        name, version = re.fullmatch(r"/static/([^?]+)\?v=([0-9a-f]{12})", link).groups()
        assert version == asset_version(STATIC / name)


@pytest.mark.parametrize("name", ["app.js", "app.css", PLOTLY_BUNDLE])
def test_a_versioned_static_file_is_cached_for_a_year(client, name):
    response = client.get(static_url(name))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == IMMUTABLE == "public, max-age=31536000, immutable"
    for header, value in SECURITY_HEADERS.items():
        assert response.headers[header] == value


@pytest.mark.parametrize("query", ["", "?v=0123456789ab"])
def test_an_unversioned_or_stale_url_is_revalidated(client, query):
    response = client.get(f"/static/app.js{query}")
    assert response.status_code == 200 and response.headers["Cache-Control"] == REVALIDATE
    etag = response.headers["ETag"]
    again = client.get(f"/static/app.js{query}", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["Cache-Control"] == REVALIDATE
    assert again.headers["Content-Security-Policy"] == SECURITY_HEADERS["Content-Security-Policy"]


def test_a_changed_file_gets_a_new_version(tmp_path):
    asset = tmp_path / "x.js"
    asset.write_text("one")
    first = asset_version(asset)
    asset.write_text("two!")
    assert asset_version(asset) != first


def test_the_config_toggle_is_checked_on_the_board_not_on_the_whole_page():
    """A ``:has()`` anchored at ``body`` is checked again at every change anywhere in the page:
    drawing the charts beside 200 models took 8 s of the browser's time for it."""
    css = re.sub(r"/\*.*?\*/", "", (STATIC / "app.css").read_text(), flags=re.S)
    assert re.findall(r"(\S*):has\(", css) == [".board", ".board"]


@pytest.mark.parametrize(("n", "gaps"), [(3, True), (200, False)])
def test_a_large_significance_matrix_is_drawn_as_one_image(n, gaps):
    """Gaps between cells make plotly.js draw each of the n^2 cells apart (a second for 200
    models); without them it draws the matrix as one image."""
    from medselect.dashboard.charts import significance_chart
    from medselect.dashboard.schemas import Significance

    models = [f"m{i}" for i in range(n)]
    sig = Significance(models=models, test="wilcoxon", alpha=0.05,
                       adjusted=[[0.5] * n for _ in models], better=[[False] * n for _ in models])
    trace = significance_chart(sig)["data"][0]
    assert ("xgap" in trace and "ygap" in trace) == gaps


def chart_bodies(html: str) -> list[str]:
    return re.findall(r'<script type="application/json" data-chart="chart-[\w-]+">(.*?)'
                      r'</script>', html, re.S)


@pytest.mark.parametrize("page", CHART_PAGES)
def test_charts_come_sized_and_compact(client, page):
    """plotly.js's automargin measures every tick label and then draws the chart again (most
    of a 200-model chart's time): the margins come sized instead; and the data is written
    without blanks after ``,`` and ``:``."""
    bodies = chart_bodies(client.get(page).text)
    assert bodies
    for body in bodies:
        assert "automargin" not in body and '": ' not in body and '", "' not in body
        assert json.loads(body)["layout"]["margin"]


def test_margins_leave_room_for_the_longest_model_name():
    from medselect.dashboard.charts import CHAR_PX, significance_chart
    from medselect.dashboard.schemas import Significance

    models = ["m", "a-model-with-a-long-name-v2"]
    sig = Significance(models=models, test="wilcoxon", alpha=0.05,
                       adjusted=[[None, 0.5], [0.5, None]], better=[[False] * 2] * 2)
    layout = significance_chart(sig)["layout"]
    room = CHAR_PX * len(models[1])
    assert layout["margin"]["l"] > room and layout["margin"]["b"] > 0.7 * room
    assert layout["height"] > layout["margin"]["t"] + layout["margin"]["b"]
