"""Small parts: file names, links, the cache, display filters, augmentation, Host headers."""

from __future__ import annotations

import threading

import pytest

from medselect.dashboard.cache import ResultCache
from medselect.dashboard.links import ServerLinks, StaticLinks, slug
from medselect.dashboard.render import duration, num, pvalue, sort_value
from medselect.dashboard.routes.api_index import api_routes
from medselect.dashboard.security import host_name
from medselect.dashboard.views.model import augmentation


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


def test_a_weighed_cache_keeps_the_newest_values_up_to_its_total_weight():
    cache = ResultCache(10, weigh=len)
    for key, size in (("a", 4), ("b", 4), ("a", 4), ("c", 4), ("huge", 11)):
        assert cache.get_or_compute(key, lambda size=size: b"x" * size) == b"x" * size
    assert cache.peek("huge") is None  # heavier than the whole cache: returned, not kept
    assert cache.peek("b") is None and cache.peek("a") and cache.peek("c")  # 8 of 10 bytes


def test_cache_computes_a_key_once_for_threads_that_ask_together():
    cache = ResultCache(4)
    started, release, calls = threading.Event(), threading.Event(), []

    def slow():
        calls.append(1)
        started.set()
        release.wait(5)
        return "choice"

    results = []
    first = threading.Thread(target=lambda: results.append(cache.get_or_compute("k", slow)))
    first.start()
    started.wait(5)
    second = threading.Thread(target=lambda: results.append(cache.get_or_compute("k", slow)))
    second.start()
    release.set()
    first.join(5)
    second.join(5)
    assert results == ["choice", "choice"] and calls == [1]
    assert cache.peek("k") == "choice" and cache.peek("other") is None


def test_cache_keeps_no_failed_result():
    cache = ResultCache(4)

    def fail():
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        cache.get_or_compute("k", fail)
    assert cache.get_or_compute("k", lambda: 1) == 1


@pytest.mark.parametrize(("value", "shown", "sortable"), [
    (None, "–", ""), (float("nan"), "–", ""), (0.912345, "0.912", "0.912345"),
    (0.81, "0.810", "0.81"), (12345.6, "12346", "12345.6"), (100.2, "100", "100.2"),
])
def test_number_display(value, shown, sortable):
    assert num(value) == shown and sort_value(value) == sortable


def test_augmentation_spells_out_the_recorded_preset():
    recorded = [{"transform": "RandFlipd", "keys": ["image", "label"], "spatial_axis": 0,
                 "prob": 0.5},
                {"transform": "RandGaussianNoised", "keys": "image", "std": 0.05},
                "Custom"]
    aug = augmentation({"augmentation": "light"}, {"augmentation_preset": recorded})
    assert aug.preset == "light"
    flip, noise, custom = aug.steps
    assert (flip.transform, flip.description, flip.keys, flip.prob, flip.params) == (
        "RandFlipd", "random mirror flip", ["image", "label"], 0.5, {"spatial_axis": 0})
    assert (noise.keys, noise.prob, noise.params) == (["image"], None, {"std": 0.05})
    assert custom.transform == "Custom" and custom.description == ""


@pytest.mark.parametrize(("config", "details", "preset", "steps"), [
    ({}, {}, None, None),
    ({"augmentation": "strong"}, {}, "strong", None),  # contents not recorded
    ({"augmentation": "none"}, {"augmentation_preset": []}, "none", []),
])
def test_augmentation_without_contents(config, details, preset, steps):
    aug = augmentation(config, details)
    if preset is None:
        assert aug is None
    else:
        assert (aug.preset, aug.steps) == (preset, steps)


@pytest.mark.parametrize(("header", "name"), [
    ("127.0.0.1:8000", "127.0.0.1"), ("LOCALHOST", "localhost"), ("[::1]:80", "[::1]"),
    ("evil.example:8000", "evil.example"), ("::1", None), ("a:b:c", None), ("", None),
    ("127.0.0.1:99999999", None),
])
def test_host_name_of_a_host_header(header, name):
    assert host_name(header) == name


@pytest.mark.parametrize(("value", "text"), [
    (None, "–"), (0.2, "0.200"), (0.0004, "<0.001"), (0.04567, "0.046")])
def test_pvalue_display(value, text):
    assert pvalue(value) == text


@pytest.mark.parametrize(("seconds", "text"), [
    (None, "–"), (0.00579, "0.0058 s"), (42.4, "42 s"), (200, "3 min 20 s"),
    (7500, "2 h 05 min")])
def test_duration_display(seconds, text):
    assert duration(seconds) == text


def test_api_index_lists_every_operation():
    schema = {"paths": {"/api/b": {"get": {"tags": ["x"], "description": "B.\nmore",
                                           "parameters": [{"name": "q"}]}},
                        "/api/a": {"post": {"summary": "Add A"}}}}
    routes = api_routes(schema)
    assert [(r.method, r.path, r.summary) for r in routes] == [
        ("POST", "/api/a", "Add A"), ("GET", "/api/b", "B.")]
    assert routes[1].parameters == ["q"] and routes[1].tag == "x"
