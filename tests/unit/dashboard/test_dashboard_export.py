"""The static export: the same pages as files whose relative links all resolve on disk."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from medselect.dashboard import export_static
from medselect.dashboard.render import PLOTLY_BUNDLE, STATIC


@pytest.fixture(scope="module")
def report(sample_ws, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    index = export_static(sample_ws, out, n_resamples=50)
    assert index == out / "index.html"
    return out


def test_files_written(report):
    bundle = report / "static" / PLOTLY_BUNDLE
    assert bundle.read_bytes() == (STATIC / PLOTLY_BUNDLE).read_bytes()
    assert "MIT License" in bundle.with_name("LICENSE").read_text()
    assert {p.name for p in (report / "static").iterdir()} == {"app.css", "app.js",
                                                              "favicon.svg", "vendor"}
    assert [p.name for p in (report / "static" / "vendor").iterdir()] == ["plotly"]
    assert sorted(p.name for p in (report / "models").iterdir()) == [
        "run-000.html", "run-001.html", "run-002.html"]
    assert len(list((report / "cases").iterdir())) == 12
    assert sorted(p.name for p in (report / "compare").iterdir()) == [
        "run-000--run-001--run-002.html", "run-000--run-001.html"]
    # 2 metrics x 3 labels x 4 aggregates (mean, median, trimmed10, the worst 10%: p10 of dice,
    # p90 of hd95) x 3 site choices, one of them index.html
    assert len(list((report / "leaderboard").iterdir())) == 71
    assert (report / "leaderboard" / "hd95-mean-p90-all.html").is_file()
    assert not (report / "leaderboard" / "hd95-mean-p10-all.html").exists()
    assert len(list((report / "artifacts").rglob("*.png"))) == 2 * (12 + 12 + 11)


def test_index_is_the_leaderboard(report):
    html = (report / "index.html").read_text()
    assert "<h1>Leaderboard" in html and "★ global" in html
    assert 'href="models/run-000.html"' in html
    assert f'data-plotly="static/{PLOTLY_BUNDLE}"' in html
    assert 'href="compare/run-000--run-001.html"' in html
    assert "<form method=\"post\"" not in html and 'name="models"' not in html
    # the same honest statistics as the live page: standings, patients, the choice's figure
    assert '<th data-key="standing"' in html and '<th data-key="patients"' in html
    assert 'id="choice" data-role="both"' in html and "biased upwards by the choice" in html
    assert "bootstrap resamples of the 10 patients" in html


def test_every_relative_link_resolves_to_a_file(report):
    pages = list(report.rglob("*.html"))
    # + sites.html, registry.html and the model card of the registry's one version
    assert len(pages) == 1 + 71 + 3 + 12 + 2 + 1 + 1 + 1
    assert (report / "cards" / "knee-global-v1.html").is_file()
    for page in pages:
        for link in re.findall(r'(?:href|src)="([^"]+)"', page.read_text()):
            link = unescape(link)
            assert not link.startswith(("/", "http:", "https:")), (page, link)
            target = page.parent / unquote(urlsplit(link).path)
            assert target.resolve().is_file(), (page, link)


def test_static_pages_sort_and_filter_in_the_browser(report):
    model = (report / "models" / "run-002.html").read_text()
    assert 'data-sortable data-page-size="50"' in model
    assert '<select data-filter-site="gallery">' in model
    assert model.count('<tr data-site=') == 12  # every case, not one server page
    case = (report / "cases" / "case-0004.html").read_text()
    assert "review-form" not in case and 'src="../artifacts/evaluations/' in case
