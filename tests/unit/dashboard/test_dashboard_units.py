"""Small parts: file names, links, the result cache, number display, augmentation text."""

from __future__ import annotations

import pytest

from medselect.dashboard.cache import ResultCache
from medselect.dashboard.links import ServerLinks, StaticLinks, slug
from medselect.dashboard.render import num, sort_value
from medselect.dashboard.views.model import augmentation_text


def test_slug_keeps_safe_names_and_separates_changed_ones():
    assert slug("run-001") == "run-001"
    assert slug("external:nnunet").startswith("external_nnunet-")
    assert slug("a/b") != slug("a_b") and "/" not in slug("a/b")
    assert not slug("../x").startswith(".")


def test_server_links_carry_the_case_set_and_skip_unset_parameters():
    links = ServerLinks("cs 1")
    assert links.leaderboard(metric="hd95", site=None) == "/?case_set=cs+1&metric=hd95"
    assert links.model("external:a b", descending=True) == (
        "/models/external%3Aa%20b?case_set=cs+1&descending=1")
    assert links.compare(["a", "b"]) == "/compare?case_set=cs+1&models=a&models=b"
    assert links.artifact("evaluations/e 1/x.png") == "/artifacts/evaluations/e%201/x.png"
    assert links.artifact(None) is None


def test_static_links_are_relative_and_only_to_exported_pages():
    links = StaticLinks(default_board=("dice", "mean", "mean", None), compares=[("a", "b")])
    deep = links.at(1)
    assert links.leaderboard(metric="dice", label="mean", aggregate="mean") == "index.html"
    assert deep.leaderboard(metric="hd95", label="mean", aggregate="p10", site="north") == (
        "../leaderboard/hd95-mean-p10-north.html")
    assert deep.model("run-1") == "../models/run-1.html"
    assert deep.compare(["a", "b"]) == "../compare/a--b.html"
    assert links.compare(["b", "a"]) is None and links.review("c") is None
    assert deep.static("app.js") == "../static/app.js"


def test_cache_is_least_recently_used():
    cache = ResultCache(2)
    calls = []

    def compute(key):
        calls.append(key)
        return key * 10

    for key in (1, 2, 1, 3, 1, 2):
        assert cache.get_or_compute(key, lambda k=key: compute(k)) == key * 10
    assert calls == [1, 2, 3, 2] and len(cache) == 2


@pytest.mark.parametrize(("value", "shown", "sortable"), [
    (None, "–", ""), (float("nan"), "–", ""), (0.912345, "0.912", "0.912345"),
    (12345.6, "12346", "12345.6"),
])
def test_number_display(value, shown, sortable):
    assert num(value) == shown and sort_value(value) == sortable


@pytest.mark.parametrize(("config", "text"), [
    ({}, None),
    ({"augmentation": "light"}, "preset 'light'"),
    ({"augmentation": "light", "augmentation_description": "flips, +-10 deg rotations"},
     "preset 'light': flips, +-10 deg rotations"),
    ({"augmentation": {"name": "custom", "flip": 0.5}}, 'preset \'custom\': {\n "flip": 0.5\n}'),
])
def test_augmentation_text(config, text):
    assert augmentation_text(config) == text
